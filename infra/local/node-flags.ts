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

/**
 * Environment of the local server process, set before it starts (glibc reads it once, at its first
 * allocation): `npm start` puts it in front of `node`, the e2e tests and the benchmarks in the
 * spawned process's environment.
 *
 * `MALLOC_ARENA_MAX=2`: glibc gives every thread that allocates at once an arena of its own, up to
 * 8 per core, and keeps what each arena once held. libvips renders on libuv's 4 threads and its own
 * workers, so concurrent thumbnail misses spread their decode buffers over many arenas: 8 PNG
 * misses at a time, round after round, left the server at about 385 MB idle (peaks to 447 MB), and
 * about 283 MB (peaks under 300 MB) with two arenas, over 120 rounds each; one PNG miss at a time
 * took a few dozen page faults instead of hundreds to thousands, at the same latency. Measurements
 * are in docs/decisions.md. Other systems ignore the variable.
 */
export const LOCAL_SERVER_ENV: Readonly<Record<string, string>> = { MALLOC_ARENA_MAX: '2' };
