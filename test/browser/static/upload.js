// A browser client of the multipart upload API, in plain JS: the proof that a browser can upload a
// large file straight to the storage through the plan the service signs (test/e2e/browser-upload.test.ts).
// Settings come from the URL fragment, which survives a reload: #token=…&path=…&size=…&seed=…

const settings = new URLSearchParams(location.hash.slice(1));
const token = settings.get('token') ?? '';
const path = settings.get('path') ?? 'browser/file.bin';
const size = Number(settings.get('size') ?? 64 * 1024 * 1024);
const seed = Number(settings.get('seed') ?? 1);
// An md5 declared in the plan makes the service read the whole file to check it (asynchronously when large).
const md5 = settings.get('md5') ?? undefined;
/** Parts signed per POST /v1/uploads/{id}/parts (the API takes up to 100). */
const SIGN_BATCH = Number(settings.get('signBatch') ?? 8);
const CONCURRENCY = 4;
const MAX_ATTEMPTS = 4;
const STATE_KEY = `multipart-upload:${path}`;
/** Headers a page may not set: XMLHttpRequest refuses them (the browser sends its own). */
const FORBIDDEN_HEADERS = new Set(['content-length', 'host', 'connection', 'expect', 'transfer-encoding']);

const $ = (id) => document.getElementById(id);
const log = (line) => {
  $('log').textContent += `${new Date().toISOString().slice(11, 23)} ${line}\n`;
};
const setStatus = (state, text = state) => {
  $('status').dataset.state = state;
  $('status').textContent = text;
};
const toHex = (buffer) => [...new Uint8Array(buffer)].map((b) => b.toString(16).padStart(2, '0')).join('');
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const encodePath = (p) => p.split('/').map(encodeURIComponent).join('/');

/** Deterministic pseudo-random bytes (xorshift32): the same file again after a reload. */
function generate(bytes, seedValue) {
  const words = new Uint32Array(Math.ceil(bytes / 4));
  let x = seedValue >>> 0 || 0x9e3779b9;
  for (let i = 0; i < words.length; i++) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    words[i] = x >>> 0;
  }
  return new Uint8Array(words.buffer, 0, bytes);
}

class ApiError extends Error {
  constructor(status, body) {
    super(`${status} ${body?.error?.code ?? ''} ${body?.error?.message ?? ''}`.trim());
    this.status = status;
    this.body = body;
  }
}

async function api(method, route, body) {
  const response = await fetch(route, {
    method,
    headers: {
      authorization: `Bearer ${token}`,
      ...(body === undefined ? {} : { 'content-type': 'application/json' }),
    },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await response.text();
  const json = text ? JSON.parse(text) : undefined;
  if (!response.ok) throw new ApiError(response.status, json);
  return { status: response.status, json };
}

const saveState = (state) => localStorage.setItem(STATE_KEY, JSON.stringify(state));
const loadState = () => {
  try {
    return JSON.parse(localStorage.getItem(STATE_KEY) ?? 'null');
  } catch {
    return null;
  }
};

/** One list item per part: what the test (and a person) reads the upload's progress from. */
function renderParts(plan) {
  const list = $('parts');
  list.textContent = '';
  for (let n = 1; n <= plan.parts; n++) {
    const li = document.createElement('li');
    li.dataset.part = String(n);
    li.dataset.size = String(partBytes(plan, n));
    li.dataset.state = 'pending';
    li.dataset.loaded = '0';
    li.dataset.attempts = '0';
    li.dataset.progressEvents = '0';
    li.innerHTML = `<span>part ${n}</span> <span class="state">pending</span><br><progress max="${li.dataset.size}" value="0"></progress>`;
    list.append(li);
  }
}

const partItem = (n) => document.querySelector(`#parts li[data-part="${n}"]`);
function showPart(n, fields) {
  const li = partItem(n);
  Object.assign(li.dataset, fields);
  li.querySelector('.state').textContent =
    li.dataset.state === 'uploading'
      ? `${Math.round((100 * Number(li.dataset.loaded)) / Number(li.dataset.size))}%`
      : li.dataset.state;
  li.querySelector('progress').value = Number(li.dataset.loaded);
}

const partBytes = (plan, n) => Math.min(plan.partSize, size - (n - 1) * plan.partSize);

/** PUTs one part's bytes to its signed URL, reporting upload progress; resolves with the ETag. */
function putPart(signed, body, n) {
  return new Promise((resolve, reject) => {
    const xhr = new XMLHttpRequest();
    xhr.open(signed.method ?? 'PUT', signed.url);
    for (const [name, value] of Object.entries(signed.headers ?? {})) {
      if (!FORBIDDEN_HEADERS.has(name.toLowerCase())) xhr.setRequestHeader(name, value);
    }
    xhr.upload.onprogress = (e) => {
      const li = partItem(n);
      showPart(n, {
        state: 'uploading',
        loaded: String(e.loaded),
        progressEvents: String(Number(li.dataset.progressEvents) + 1),
        // Seen part-way: progress is reported while the part is on its way, not only at its end.
        ...(e.loaded > 0 && e.loaded < body.size ? { partial: 'true' } : {}),
      });
    };
    xhr.onload = () => {
      if (xhr.status < 200 || xhr.status >= 300) {
        reject(new Error(`part ${n}: HTTP ${xhr.status} ${xhr.responseText.slice(0, 200)}`));
        return;
      }
      // Cross-origin, the ETag is readable only if the bucket's CORS rule exposes it.
      const etag = xhr.getResponseHeader('ETag');
      if (!etag) reject(new Error(`part ${n}: no readable ETag in the answer (CORS ExposeHeaders?)`));
      else resolve(etag);
    };
    xhr.onerror = () => reject(new Error(`part ${n}: network error`));
    xhr.onabort = () => reject(new Error(`part ${n}: aborted`));
    xhr.send(body);
  });
}

/** Signs the parts it is asked for, plus the next unsigned ones, in one call of up to SIGN_BATCH. */
function makeSigner(uploadId, pending) {
  const signed = new Map();
  let inFlight = null;
  async function signBatch(first) {
    const numbers = [first, ...pending.filter((n) => n !== first && !signed.has(n))].slice(0, SIGN_BATCH);
    const { json } = await api('POST', `/v1/uploads/${uploadId}/parts`, { parts: numbers });
    const expiresAt = Date.parse(json.expiresAt);
    for (const part of json.parts) signed.set(part.partNumber, { ...part, expiresAt });
    log(`signed parts ${numbers.join(', ')}`);
  }
  return async function urlFor(n) {
    for (;;) {
      const s = signed.get(n);
      if (s && s.expiresAt - Date.now() > 30_000) return s;
      signed.delete(n);
      // One signing call at a time: parallel workers wait for the batch that includes their part.
      if (!inFlight) inFlight = signBatch(n).finally(() => (inFlight = null));
      await inFlight;
    }
  };
}

async function uploadParts(state, blob) {
  const done = new Map(state.done.map((p) => [p.partNumber, p.etag]));
  const pending = [];
  for (let n = 1; n <= state.parts; n++) if (!done.has(n)) pending.push(n);
  const urlFor = makeSigner(state.uploadId, pending);
  const queue = [...pending];
  const worker = async () => {
    for (let n = queue.shift(); n !== undefined; n = queue.shift()) {
      const start = (n - 1) * state.partSize;
      const body = blob.slice(start, start + partBytes(state, n));
      for (let attempt = 1; ; attempt++) {
        showPart(n, { state: 'uploading', loaded: '0', attempts: String(attempt) });
        try {
          const etag = await putPart(await urlFor(n), body, n);
          done.set(n, etag);
          state.done = [...done].map(([partNumber, e]) => ({ partNumber, etag: e }));
          saveState(state);
          showPart(n, { state: 'done', loaded: String(body.size), etag });
          log(`part ${n} done (attempt ${attempt})`);
          break;
        } catch (e) {
          log(`${e.message} (attempt ${attempt})`);
          if (attempt >= MAX_ATTEMPTS) {
            showPart(n, { state: 'failed' });
            throw e;
          }
          showPart(n, { state: 'retrying' });
          await sleep(250 * attempt);
        }
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(CONCURRENCY, pending.length) }, worker));
  return [...done].sort((a, b) => a[0] - b[0]).map(([partNumber, etag]) => ({ partNumber, etag }));
}

/** 200 is the file; 202 means the storage is verified asynchronously: poll until READY or FAILED. */
async function complete(uploadId, parts) {
  const { status, json } = await api('POST', `/v1/uploads/${uploadId}/complete`, { parts });
  document.body.dataset.completeStatus = String(status);
  if (status === 200) return json;
  setStatus('verifying');
  log('complete answered 202: polling');
  const deadline = Date.now() + 120_000;
  while (Date.now() < deadline) {
    await sleep(300);
    const { json: upload } = await api('GET', `/v1/uploads/${uploadId}`);
    if (upload.status === 'READY') return upload.file;
    if (upload.status === 'FAILED') throw new Error(`verification failed: ${JSON.stringify(upload.error)}`);
  }
  throw new Error('the upload was not verified in time');
}

async function run(resume) {
  $('start').disabled = true;
  setStatus('generating');
  const bytes = generate(size, seed);
  const blob = new Blob([bytes], { type: 'application/octet-stream' });
  const sha = toHex(await crypto.subtle.digest('SHA-256', bytes));
  $('file').textContent = `${path} (${size} bytes)`;
  $('sha-local').textContent = sha;

  let state = resume;
  if (state) {
    // The storage's own list is the truth: a part sent before the reload counts only if it is there whole.
    const { json } = await api('GET', `/v1/uploads/${state.uploadId}/parts`);
    state.partSize = json.partSize;
    state.parts = json.parts;
    state.done = json.uploaded
      .filter((p) => p.size === partBytes(state, p.partNumber))
      .map((p) => ({ partNumber: p.partNumber, etag: p.etag }));
    state.resumedFrom = state.done.map((p) => p.partNumber);
    saveState(state);
    renderParts(state);
    for (const p of state.done)
      showPart(p.partNumber, {
        state: 'done',
        loaded: $('parts').children[p.partNumber - 1].dataset.size,
        etag: p.etag,
        resumed: 'true',
      });
    document.body.dataset.resumedParts = state.resumedFrom.join(',');
    log(`resumed upload ${state.uploadId}: parts ${state.resumedFrom.join(', ') || 'none'} already stored`);
  } else {
    const { json } = await api('POST', '/v1/uploads', {
      path,
      contentType: 'application/octet-stream',
      size,
      ...(md5 ? { md5 } : {}),
    });
    if (json.mode !== 'multipart') throw new Error(`expected a multipart plan, got mode ${json.mode}`);
    state = {
      uploadId: json.uploadId,
      path,
      size,
      seed,
      partSize: json.partSize,
      parts: json.parts,
      done: [],
    };
    saveState(state);
    renderParts(state);
    log(`upload ${state.uploadId}: ${state.parts} parts of ${state.partSize} bytes`);
  }
  document.body.dataset.uploadId = state.uploadId;

  setStatus('uploading');
  const parts = await uploadParts(state, blob);
  setStatus('completing');
  const file = await complete(state.uploadId, parts);
  localStorage.removeItem(STATE_KEY);
  log(`stored as ${file.id} (${file.size} bytes)`);

  setStatus('downloading');
  // The API answers 302 to the bucket for cloud storages: fetch follows it (a CORS GET there).
  const response = await fetch(`/v1/objects/${encodePath(path)}`, {
    headers: { authorization: `Bearer ${token}` },
  });
  if (!response.ok) throw new Error(`download: HTTP ${response.status}`);
  const downloaded = await response.arrayBuffer();
  const remoteSha = toHex(await crypto.subtle.digest('SHA-256', downloaded));
  $('sha-remote').textContent = remoteSha;
  document.body.dataset.downloadUrl = response.url;
  document.body.dataset.downloadedBytes = String(downloaded.byteLength);
  if (remoteSha !== sha) throw new Error(`sha256 mismatch: uploaded ${sha}, downloaded ${remoteSha}`);
  setStatus('ok', `ok: ${size} bytes uploaded and downloaded, sha256 ${sha}`);
}

function fail(e) {
  log(`FAILED: ${e.stack ?? e}`);
  setStatus('failed', `failed: ${e.message}`);
  $('start').disabled = false;
}

$('start').addEventListener('click', () => run(null).catch(fail));
const saved = loadState();
if (saved && saved.path === path && saved.size === size && saved.seed === seed) {
  run(saved).catch(fail); // a reload mid-upload: carry on where the storage says it stopped
} else {
  $('start').disabled = false;
}
