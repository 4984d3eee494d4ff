/**
 * Node flags of the local server process: `npm start` (package.json), the e2e tests and the
 * benchmarks all start it with exactly these.
 *
 * `--v8-pool-size=1`: V8 runs its GC helpers (parallel scavenge, concurrent marking and sweeping)
 * on a pool of 4 threads by default. Streaming a large body allocates a 64 KiB buffer per socket
 * read, which triggers about 50 scavenges per GiB; on the 2-core bench machine 4 helpers fighting
 * over 2 cores cost about 1 CPU second per GiB uploaded, more than the main thread's own work. One
 * helper keeps the GC concurrent (the garbage buffers are freed as promptly, so peak RSS does not
 * grow, unlike with --single-threaded-gc) and removes almost all of that cost. The heap of this
 * server is small (about 15-50 MB), so one helper is enough on any machine. Measurements are in
 * docs/decisions.md.
 */
export const LOCAL_SERVER_NODE_FLAGS: readonly string[] = ['--v8-pool-size=1'];
