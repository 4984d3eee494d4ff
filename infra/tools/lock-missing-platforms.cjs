// npm install here drops the other platforms' optional binaries (@biomejs/cli-darwin-arm64,
// @rollup/rollup-win32-x64-msvc, ...) from package-lock.json, because this machine's registry does
// not serve them; `npm ci` then refuses the lock file ("Missing: ... from lock file"). This puts
// them back as optional entries for their os/cpu, which npm ci skips on other platforms.
// Run after `npm install`: node infra/tools/lock-missing-platforms.cjs
const fs = require('node:fs');
const lock = JSON.parse(fs.readFileSync('package-lock.json', 'utf8'));
const pk = lock.packages;
let added = 0;
const osMap = {
  android: 'android',
  darwin: 'darwin',
  linux: 'linux',
  freebsd: 'freebsd',
  openbsd: 'openbsd',
  win32: 'win32',
  openharmony: 'openharmony',
};
for (const [, entry] of Object.entries(pk)) {
  for (const [dep, version] of Object.entries(entry.optionalDependencies ?? {})) {
    const where = `node_modules/${dep}`;
    if (pk[where]) continue;
    const name = dep.split('/').pop();
    const parts = name.split('-');
    const os = parts.find((p) => osMap[p]);
    if (!os) continue;
    const rest = parts.slice(parts.indexOf(os) + 1);
    const cpu = rest.find((p) => /^(x64|arm64|arm|ia32|loong64|ppc64|riscv64|s390x)$/.test(p));
    const libc = rest.includes('musl')
      ? 'musl'
      : rest.includes('gnu') || rest.includes('gnueabihf')
        ? 'glibc'
        : undefined;
    pk[where] = {
      version,
      ...(cpu ? { cpu: [cpu] } : {}),
      ...(entry.dev ? { dev: true } : {}),
      ...(libc && os === 'linux' ? { libc: [libc] } : {}),
      optional: true,
      os: [os],
    };
    added++;
  }
}
// npm sorts the entries itself on its next write; appending keeps this change small.
fs.writeFileSync('package-lock.json', `${JSON.stringify(lock, null, 2)}\n`);
console.log('added', added);
