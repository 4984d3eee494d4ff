import { startInProcessService } from './in-process';
import { apiEvent } from './handler-latency';
import { lambdaContext } from '../infra/local/server';
const service = await startInProcessService('bench-prof-', 'bench-prof');
const upload = (await import('../functions/upload-object.ts')).handler as any;
const meta = (await import('../functions/get-file-record.ts')).handler as any;
await upload(apiEvent('PUT', '/v1/objects/{path+}', 'a/b.txt', Buffer.alloc(1024)), lambdaContext('upload-object'));
for (let i = 0; i < 500; i++) await meta(apiEvent('GET', '/v1/meta/{path+}', 'a/b.txt'), lambdaContext('get-file-record'));
const { Session } = await import('node:inspector/promises');
const s = new Session(); s.connect(); await s.post('Profiler.enable'); await s.post('Profiler.start');
const t = performance.now();
for (let i = 0; i < 5000; i++) { const e = apiEvent('GET', '/v1/meta/{path+}', 'a/b.txt'); const c = lambdaContext('get-file-record'); await meta(e, c); }
console.log('per call', ((performance.now() - t) / 5000).toFixed(3));
const { profile } = await s.post('Profiler.stop');
(await import('node:fs')).writeFileSync('/tmp/meta.cpuprofile', JSON.stringify(profile));
await service.stop(); process.exit(0);
