import { createHash, createHmac, randomUUID, timingSafeEqual } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

/**
 * A small Aliyun OSS stand-in for tests: one bucket in memory, the subset of the OSS API the
 * adapter uses (PutObject, CopyObject, GetObject with Range and response-* overrides, HeadObject,
 * DeleteObject, DeleteMultipleObjects, ListObjectsV2, multipart uploads with ListParts), and every request
 * authenticated the way OSS does it (x-oss-copy-source is an x-oss-* header, so it is signed):
 *
 * - V1 (`Authorization: OSS ak:signature`, or `OSSAccessKeyId`/`Expires`/`Signature` in the URL):
 *   base64(HMAC-SHA1(secret, VERB \n Content-MD5 \n Content-Type \n Date|x-oss-date|Expires \n
 *   x-oss-* headers \n /bucket/key?sub-resources)).
 * - V4 (`Authorization: OSS4-HMAC-SHA256 Credential=...`, or `x-oss-signature-version` and friends
 *   in the URL): HMAC-SHA256 with a key derived from "aliyun_v4" + secret, date, region, "oss",
 *   "aliyun_v4_request" over the canonical request (verb, URI, query, headers, additional headers,
 *   payload hash).
 *
 * A bad signature is 403 SignatureDoesNotMatch, an expired URL 403 AccessDenied, a request more
 * than 15 minutes off 403 RequestTimeTooSkewed. Written from Alibaba Cloud's published signature
 * documents, independently of ali-oss.
 */
export interface OssServerOptions {
  bucket: string;
  accessKeyId: string;
  accessKeySecret: string;
  /** Standard region as in V4 credentials, e.g. cn-hangzhou. */
  region: string;
}

interface StoredObject {
  data: Buffer;
  contentType: string;
  etag: string;
  lastModified: Date;
}

export interface OssServer {
  endpoint: string;
  port: number;
  /** Signature versions seen, for tests that want to know which algorithm was exercised. */
  seen: { v1: number; v4: number; v1Url: number; v4Url: number; rejected: number };
  stop(): Promise<void>;
}

/** The sub-resources that take part in a V1 signature (others in the query do not). */
const V1_SUBRESOURCES = new Set([
  'acl',
  'append',
  'bucketInfo',
  'callback',
  'callback-var',
  'cname',
  'comp',
  'continuation-token',
  'cors',
  'delete',
  'endTime',
  'img',
  'lifecycle',
  'live',
  'location',
  'logging',
  'objectMeta',
  'partNumber',
  'position',
  'qos',
  'referer',
  'replication',
  'replicationLocation',
  'replicationProgress',
  'response-cache-control',
  'response-content-disposition',
  'response-content-encoding',
  'response-content-language',
  'response-content-type',
  'response-expires',
  'restore',
  'security-token',
  'startTime',
  'status',
  'style',
  'styleName',
  'symlink',
  'tagging',
  'uploadId',
  'uploads',
  'versionId',
  'versioning',
  'versions',
  'website',
  'x-oss-process',
  'x-oss-traffic-limit',
]);

const SKEW_MS = 15 * 60_000;

class OssError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
  ) {
    super(message);
  }
}

const xmlEscape = (s: string) =>
  s
    .replace(/&/g, '&amp;')
    .replace(/</g, '&lt;')
    .replace(/>/g, '&gt;')
    .replace(/"/g, '&quot;')
    .replace(/'/g, '&apos;');

const xmlUnescape = (s: string) =>
  s
    .replace(/&lt;/g, '<')
    .replace(/&gt;/g, '>')
    .replace(/&quot;/g, '"')
    .replace(/&apos;|&#39;|&#x27;/g, "'")
    .replace(/&#(\d+);/g, (_, n) => String.fromCodePoint(Number(n)))
    .replace(/&amp;/g, '&');

/** RFC 3986 encoding as OSS V4 uses it: encodeURIComponent plus !'()*. */
const uriEncode = (s: string) =>
  encodeURIComponent(s).replace(/[!'()*]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`);

const sha256hex = (s: string) => createHash('sha256').update(s).digest('hex');
const hmac = (key: string | Buffer, data: string) => createHmac('sha256', key).update(data).digest();

function safeEqual(a: string, b: string): boolean {
  const x = Buffer.from(a);
  const y = Buffer.from(b);
  return x.length === y.length && timingSafeEqual(x, y);
}

/** The raw query as [key, value | null] pairs, decoded; null for a key given without "=". */
function rawQuery(search: string): [string, string | null][] {
  if (!search) return [];
  return search
    .replace(/^\?/, '')
    .split('&')
    .filter(Boolean)
    .map((pair) => {
      const i = pair.indexOf('=');
      const decode = (s: string) => decodeURIComponent(s.replace(/\+/g, '%20'));
      return i < 0 ? [decode(pair), null] : [decode(pair.slice(0, i)), decode(pair.slice(i + 1))];
    });
}

function header(req: IncomingMessage, name: string): string | undefined {
  const v = req.headers[name];
  return Array.isArray(v) ? v.join(',') : v;
}

function ossHeaders(req: IncomingMessage): string[] {
  return Object.keys(req.headers)
    .filter((h) => h.startsWith('x-oss-'))
    .sort()
    .map((h) => `${h}:${(header(req, h) ?? '').trim()}`);
}

async function readBody(req: IncomingMessage): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const c of req) chunks.push(c as Buffer);
  return Buffer.concat(chunks);
}

/** V4 date like 20240101T000000Z. */
function parseV4Date(s: string | undefined): number {
  const m = /^(\d{4})(\d{2})(\d{2})T(\d{2})(\d{2})(\d{2})Z$/.exec(s ?? '');
  if (!m) return Number.NaN;
  return Date.UTC(Number(m[1]), Number(m[2]) - 1, Number(m[3]), Number(m[4]), Number(m[5]), Number(m[6]));
}

export async function startOssServer(options: OssServerOptions): Promise<OssServer> {
  const objects = new Map<string, StoredObject>();
  const uploads = new Map<
    string,
    { key: string; contentType: string; parts: Map<number, { data: Buffer; etag: string }> }
  >();
  const seen = { v1: 0, v4: 0, v1Url: 0, v4Url: 0, rejected: 0 };

  const signatureMismatch = () => {
    seen.rejected++;
    return new OssError(403, 'SignatureDoesNotMatch', 'The request signature we calculated does not match');
  };

  const canonicalResourceV1 = (key: string, query: [string, string | null][]) => {
    const sub = query
      .filter(([k]) => V1_SUBRESOURCES.has(k))
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
      .map(([k, v]) => (v === null || v === '' ? k : `${k}=${v}`));
    return `/${options.bucket}/${key}${sub.length ? `?${sub.join('&')}` : ''}`;
  };

  const signV1 = (stringToSign: string) =>
    createHmac('sha1', options.accessKeySecret).update(stringToSign, 'utf8').digest('base64');

  const canonicalRequestV4 = (
    req: IncomingMessage,
    key: string,
    query: [string, string | null][],
    additional: string[],
  ) => {
    const uri = uriEncode(`/${options.bucket}/${key}`).replace(/%2F/g, '/');
    const canonicalQuery = query
      .filter(([k]) => k !== 'x-oss-signature')
      // A parameter without a value (or with an empty one) is its encoded name alone.
      .map(([k, v]) => [uriEncode(k), v === null || v === '' ? null : uriEncode(v)] as const)
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
      .map(([k, v]) => (v === null ? k : `${k}=${v}`))
      .join('&');
    const names = new Set(additional);
    for (const h of Object.keys(req.headers)) {
      if (h === 'content-type' || h === 'content-md5' || h.startsWith('x-oss-')) names.add(h);
    }
    const canonicalHeaders = [...names]
      .sort()
      .map((h) => `${h}:${(header(req, h) ?? '').trim()}\n`)
      .join('');
    return [
      req.method,
      uri,
      canonicalQuery,
      canonicalHeaders,
      additional.join(';'),
      header(req, 'x-oss-content-sha256') ?? 'UNSIGNED-PAYLOAD',
    ].join('\n');
  };

  const signV4 = (date: string, day: string, region: string, canonical: string) => {
    const scope = `${day}/${region}/oss/aliyun_v4_request`;
    const stringToSign = ['OSS4-HMAC-SHA256', date, scope, sha256hex(canonical)].join('\n');
    let signingKey = hmac(`aliyun_v4${options.accessKeySecret}`, day);
    signingKey = hmac(signingKey, region);
    signingKey = hmac(signingKey, 'oss');
    signingKey = hmac(signingKey, 'aliyun_v4_request');
    return createHmac('sha256', signingKey).update(stringToSign).digest('hex');
  };

  const checkCredential = (accessKeyId: string | undefined) => {
    if (accessKeyId !== options.accessKeyId) {
      seen.rejected++;
      throw new OssError(403, 'InvalidAccessKeyId', 'The OSS Access Key Id you provided does not exist');
    }
  };

  /** Throws unless the request carries a valid V1 or V4 signature, in a header or in the URL. */
  const authenticate = (req: IncomingMessage, key: string, query: [string, string | null][]) => {
    const q = new Map(query);
    const auth = header(req, 'authorization');
    const now = Date.now();
    if (auth?.startsWith('OSS ')) {
      const [ak, signature] = auth.slice(4).split(':');
      checkCredential(ak);
      const date = header(req, 'x-oss-date') ?? header(req, 'date');
      const time = Date.parse(date ?? '');
      if (!Number.isFinite(time) || Math.abs(now - time) > SKEW_MS)
        throw new OssError(
          403,
          'RequestTimeTooSkewed',
          'The difference between the request time and now is too large',
        );
      const stringToSign = [
        req.method,
        header(req, 'content-md5') ?? '',
        header(req, 'content-type') ?? '',
        date,
        ...ossHeaders(req),
        canonicalResourceV1(key, query),
      ].join('\n');
      if (!safeEqual(signV1(stringToSign), signature ?? '')) throw signatureMismatch();
      seen.v1++;
      return;
    }
    if (auth?.startsWith('OSS4-HMAC-SHA256 ')) {
      const parts = new Map(
        auth
          .slice('OSS4-HMAC-SHA256 '.length)
          .split(',')
          .map((p) => p.trim().split('=') as [string, string]),
      );
      const [ak, day, region, product, terminator] = (parts.get('Credential') ?? '').split('/');
      checkCredential(ak);
      const date = header(req, 'x-oss-date') ?? '';
      const time = parseV4Date(date);
      if (!Number.isFinite(time) || Math.abs(now - time) > SKEW_MS)
        throw new OssError(
          403,
          'RequestTimeTooSkewed',
          'The difference between the request time and now is too large',
        );
      if (
        day !== date.slice(0, 8) ||
        region !== options.region ||
        product !== 'oss' ||
        terminator !== 'aliyun_v4_request'
      )
        throw signatureMismatch();
      const additional = (parts.get('AdditionalHeaders') ?? '').split(';').filter(Boolean);
      const expected = signV4(date, day, region, canonicalRequestV4(req, key, query, additional));
      if (!safeEqual(expected, parts.get('Signature') ?? '')) throw signatureMismatch();
      seen.v4++;
      return;
    }
    if (q.has('Signature')) {
      checkCredential(q.get('OSSAccessKeyId') ?? undefined);
      const expires = Number(q.get('Expires'));
      const stringToSign = [
        req.method,
        header(req, 'content-md5') ?? '',
        header(req, 'content-type') ?? '',
        q.get('Expires') ?? '',
        ...ossHeaders(req),
        canonicalResourceV1(key, query),
      ].join('\n');
      if (!safeEqual(signV1(stringToSign), q.get('Signature') ?? '')) throw signatureMismatch();
      if (!Number.isFinite(expires) || expires * 1000 < now) {
        seen.rejected++;
        throw new OssError(403, 'AccessDenied', 'Request has expired');
      }
      seen.v1Url++;
      return;
    }
    if (q.get('x-oss-signature-version') === 'OSS4-HMAC-SHA256') {
      const [ak, day, region, product, terminator] = (q.get('x-oss-credential') ?? '').split('/');
      checkCredential(ak);
      const date = q.get('x-oss-date') ?? '';
      if (
        day !== date.slice(0, 8) ||
        region !== options.region ||
        product !== 'oss' ||
        terminator !== 'aliyun_v4_request'
      )
        throw signatureMismatch();
      const additional = (q.get('x-oss-additional-headers') ?? '').split(';').filter(Boolean);
      const expected = signV4(date, day, region, canonicalRequestV4(req, key, query, additional));
      if (!safeEqual(expected, q.get('x-oss-signature') ?? '')) throw signatureMismatch();
      const expires = Number(q.get('x-oss-expires'));
      if (!Number.isFinite(expires) || parseV4Date(date) + expires * 1000 < now) {
        seen.rejected++;
        throw new OssError(403, 'AccessDenied', 'Request has expired');
      }
      seen.v4Url++;
      return;
    }
    seen.rejected++;
    throw new OssError(403, 'AccessDenied', 'Anonymous access is forbidden for this bucket');
  };

  const send = (
    res: ServerResponse,
    status: number,
    body: string | Buffer = '',
    headers: Record<string, string> = {},
  ) => {
    const payload = typeof body === 'string' ? Buffer.from(body) : body;
    res.writeHead(status, {
      'x-oss-request-id': randomUUID().replace(/-/g, '').toUpperCase(),
      'content-length': String(payload.length),
      ...headers,
    });
    res.end(payload);
  };

  const sendError = (req: IncomingMessage, res: ServerResponse, e: OssError) => {
    const xml = `<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>${e.code}</Code><Message>${xmlEscape(
      e.message,
    )}</Message><RequestId>0</RequestId><HostId>localhost</HostId></Error>`;
    // HEAD answers carry no body: OSS puts the error document, base64, in x-oss-err.
    if (req.method === 'HEAD') {
      res.writeHead(e.status, { 'x-oss-err': Buffer.from(xml).toString('base64'), 'content-length': '0' });
      return res.end();
    }
    send(res, e.status, xml, { 'content-type': 'application/xml' });
  };

  const objectHeaders = (o: StoredObject) => ({
    'content-type': o.contentType,
    etag: o.etag,
    'last-modified': o.lastModified.toUTCString(),
    'accept-ranges': 'bytes',
  });

  const handle = async (req: IncomingMessage, res: ServerResponse) => {
    const [rawPath, search = ''] = (req.url ?? '/').split('?', 2) as [string, string?];
    const key = decodeURIComponent(rawPath.slice(1));
    const query = rawQuery(search);
    const q = new Map(query);
    authenticate(req, key, query);

    if (key === '') {
      if (req.method === 'GET' && q.get('list-type') === '2') return list(res, q);
      if (req.method === 'POST' && q.has('delete')) return deleteMulti(req, res);
      throw new OssError(400, 'NotImplemented', 'This bucket operation is not implemented here');
    }
    if (q.has('uploads') || q.has('uploadId')) return multipart(req, res, key, q);
    switch (req.method) {
      case 'PUT': {
        const copySource = header(req, 'x-oss-copy-source');
        if (copySource !== undefined) return copyObject(req, res, key, copySource);
        const data = await readBody(req);
        const md5 = createHash('md5').update(data);
        const digest = md5.copy().digest('base64');
        const given = header(req, 'content-md5');
        if (given && given !== digest)
          throw new OssError(400, 'InvalidDigest', 'The Content-MD5 you specified is not valid');
        const etag = `"${md5.digest('hex').toUpperCase()}"`;
        objects.set(key, {
          data,
          contentType: header(req, 'content-type') ?? 'application/octet-stream',
          etag,
          lastModified: new Date(Math.floor(Date.now() / 1000) * 1000),
        });
        return send(res, 200, '', { etag });
      }
      case 'GET':
      case 'HEAD': {
        const o = objects.get(key);
        if (!o) throw new OssError(404, 'NoSuchKey', 'The specified key does not exist.');
        const headers: Record<string, string> = objectHeaders(o);
        for (const [k, v] of query) {
          if (k.startsWith('response-') && v !== null) headers[k.slice('response-'.length)] = v;
        }
        const range = /^bytes=(\d+)-(\d*)$/.exec(header(req, 'range') ?? '');
        if (req.method === 'GET' && range && o.data.length > 0) {
          const start = Number(range[1]);
          const end = Math.min(range[2] ? Number(range[2]) : o.data.length - 1, o.data.length - 1);
          if (start < o.data.length && start <= end) {
            headers['content-range'] = `bytes ${start}-${end}/${o.data.length}`;
            return send(res, 206, o.data.subarray(start, end + 1), headers);
          }
        }
        if (req.method === 'HEAD') {
          res.writeHead(200, { ...headers, 'content-length': String(o.data.length) });
          return res.end();
        }
        return send(res, 200, o.data, headers);
      }
      case 'DELETE':
        objects.delete(key);
        return send(res, 204);
      default:
        throw new OssError(
          405,
          'MethodNotAllowed',
          'The specified method is not allowed against this resource.',
        );
    }
  };

  /**
   * CopyObject: a PUT with `x-oss-copy-source: /bucket/object` (the object URL-encoded). The
   * target keeps the source's content type unless `x-oss-metadata-directive: REPLACE`.
   */
  const copyObject = async (req: IncomingMessage, res: ServerResponse, key: string, source: string) => {
    await readBody(req);
    const m = /^\/([^/]+)\/([^?]+)$/.exec(source);
    let sourceKey: string | undefined;
    try {
      sourceKey = m ? decodeURIComponent(m[2] as string) : undefined;
    } catch {
      sourceKey = undefined;
    }
    if (!m || !sourceKey)
      throw new OssError(400, 'InvalidArgument', 'x-oss-copy-source must be /bucket/object, URL-encoded');
    if (m[1] !== options.bucket)
      throw new OssError(404, 'NoSuchBucket', 'The specified bucket does not exist.');
    const directive = header(req, 'x-oss-metadata-directive') ?? 'COPY';
    if (directive !== 'COPY' && directive !== 'REPLACE')
      throw new OssError(400, 'InvalidArgument', 'x-oss-metadata-directive must be COPY or REPLACE');
    const o = objects.get(sourceKey);
    if (!o) throw new OssError(404, 'NoSuchKey', 'The specified key does not exist.');
    const lastModified = new Date(Math.floor(Date.now() / 1000) * 1000);
    objects.set(key, {
      data: Buffer.from(o.data),
      contentType:
        directive === 'REPLACE' ? (header(req, 'content-type') ?? 'application/octet-stream') : o.contentType,
      etag: o.etag,
      lastModified,
    });
    return xmlAnswer(
      res,
      `<CopyObjectResult><ETag>${xmlEscape(o.etag)}</ETag><LastModified>${lastModified.toISOString()}</LastModified></CopyObjectResult>`,
    );
  };

  const etagOf = (data: Buffer) => `"${createHash('md5').update(data).digest('hex').toUpperCase()}"`;
  const xmlAnswer = (res: ServerResponse, body: string) =>
    send(res, 200, `<?xml version="1.0" encoding="UTF-8"?>\n${body}`, { 'content-type': 'application/xml' });

  /** InitiateMultipartUpload, UploadPart, ListParts, CompleteMultipartUpload, AbortMultipartUpload. */
  const multipart = async (
    req: IncomingMessage,
    res: ServerResponse,
    key: string,
    q: Map<string, string | null>,
  ) => {
    if (req.method === 'POST' && q.has('uploads')) {
      const uploadId = randomUUID().replace(/-/g, '').toUpperCase();
      uploads.set(uploadId, {
        key,
        contentType: header(req, 'content-type') ?? 'application/octet-stream',
        parts: new Map(),
      });
      return xmlAnswer(
        res,
        `<InitiateMultipartUploadResult><Bucket>${options.bucket}</Bucket><Key>${xmlEscape(key)}</Key><UploadId>${uploadId}</UploadId></InitiateMultipartUploadResult>`,
      );
    }
    const uploadId = q.get('uploadId') ?? '';
    const upload = uploads.get(uploadId);
    if (!upload || upload.key !== key)
      throw new OssError(404, 'NoSuchUpload', 'The specified upload does not exist.');
    if (req.method === 'PUT') {
      const partNumber = Number(q.get('partNumber'));
      if (!Number.isInteger(partNumber) || partNumber < 1 || partNumber > 10_000)
        throw new OssError(400, 'InvalidArgument', 'Part number must be an integer between 1 and 10000');
      const data = await readBody(req);
      const etag = etagOf(data);
      upload.parts.set(partNumber, { data, etag });
      return send(res, 200, '', { etag });
    }
    if (req.method === 'GET') return listParts(res, key, uploadId, upload.parts, q);
    if (req.method === 'DELETE') {
      uploads.delete(uploadId);
      return send(res, 204);
    }
    if (req.method === 'POST') {
      const body = (await readBody(req)).toString('utf8');
      const listed = [
        ...body.matchAll(/<Part>\s*<PartNumber>(\d+)<\/PartNumber>\s*<ETag>([^<]*)<\/ETag>\s*<\/Part>/g),
      ].map((m) => ({ number: Number(m[1]), etag: xmlUnescape(m[2] as string) }));
      if (listed.length === 0) throw new OssError(400, 'MalformedXML', 'No parts');
      const chosen = listed.map((p, i) => {
        const part = upload.parts.get(p.number);
        if (!part || part.etag.replace(/"/g, '') !== p.etag.replace(/"/g, ''))
          throw new OssError(400, 'InvalidPart', 'One or more of the specified parts could not be found');
        if (i > 0 && p.number <= (listed[i - 1] as { number: number }).number)
          throw new OssError(400, 'InvalidPartOrder', 'The list of parts was not in ascending order');
        // Every part but the last must be at least 100 KiB.
        if (i < listed.length - 1 && part.data.length < 100 * 1024)
          throw new OssError(
            400,
            'EntityTooSmall',
            'Your proposed upload is smaller than the minimum allowed size',
          );
        return part.data;
      });
      const data = Buffer.concat(chosen);
      const etag = `"${createHash('md5')
        .update(Buffer.concat(listed.map((p) => Buffer.from(p.etag.replace(/"/g, ''), 'hex'))))
        .digest('hex')
        .toUpperCase()}-${listed.length}"`;
      objects.set(key, {
        data,
        contentType: upload.contentType,
        etag,
        lastModified: new Date(Math.floor(Date.now() / 1000) * 1000),
      });
      uploads.delete(uploadId);
      return xmlAnswer(
        res,
        `<CompleteMultipartUploadResult><Bucket>${options.bucket}</Bucket><Key>${xmlEscape(key)}</Key><ETag>${etag}</ETag></CompleteMultipartUploadResult>`,
      );
    }
    throw new OssError(405, 'MethodNotAllowed', 'The specified method is not allowed against this resource.');
  };

  /** ListParts: the parts above part-number-marker, max-parts (default and at most 1000) at a time. */
  const listParts = (
    res: ServerResponse,
    key: string,
    uploadId: string,
    parts: Map<number, { data: Buffer; etag: string }>,
    q: Map<string, string | null>,
  ) => {
    const maxParts = Math.min(Number(q.get('max-parts') ?? 1000), 1000);
    const marker = Number(q.get('part-number-marker') ?? 0);
    if (!Number.isInteger(maxParts) || maxParts < 1 || !Number.isInteger(marker) || marker < 0)
      throw new OssError(400, 'InvalidArgument', 'max-parts or part-number-marker is not valid');
    const numbers = [...parts.keys()].filter((n) => n > marker).sort((a, b) => a - b);
    const page = numbers.slice(0, maxParts);
    const truncated = numbers.length > page.length;
    const xml = page
      .map((n) => {
        const part = parts.get(n) as { data: Buffer; etag: string };
        return `<Part><PartNumber>${n}</PartNumber><LastModified>${new Date().toISOString()}</LastModified><ETag>${xmlEscape(
          part.etag,
        )}</ETag><Size>${part.data.length}</Size></Part>`;
      })
      .join('');
    return xmlAnswer(
      res,
      `<ListPartsResult><Bucket>${options.bucket}</Bucket><Key>${xmlEscape(key)}</Key><UploadId>${uploadId}</UploadId><PartNumberMarker>${marker}</PartNumberMarker><NextPartNumberMarker>${
        page[page.length - 1] ?? marker
      }</NextPartNumberMarker><MaxParts>${maxParts}</MaxParts><IsTruncated>${truncated}</IsTruncated>${xml}</ListPartsResult>`,
    );
  };

  const list = (res: ServerResponse, q: Map<string, string | null>) => {
    const prefix = q.get('prefix') ?? '';
    const maxKeys = Math.min(Number(q.get('max-keys') ?? 100), 1000);
    const token = q.get('continuation-token');
    const after = token ? Buffer.from(token, 'base64url').toString('utf8') : (q.get('start-after') ?? '');
    // OSS orders keys, and so the start of a page, by their UTF-8 bytes.
    const utf8Order = (a: string, b: string) => Buffer.compare(Buffer.from(a), Buffer.from(b));
    const keys = [...objects.keys()]
      .filter((k) => k.startsWith(prefix) && utf8Order(k, after) > 0)
      .sort(utf8Order);
    const page = keys.slice(0, maxKeys);
    const truncated = keys.length > page.length;
    const contents = page
      .map((k) => {
        const o = objects.get(k) as StoredObject;
        return `<Contents><Key>${xmlEscape(k)}</Key><LastModified>${o.lastModified.toISOString()}</LastModified><ETag>${xmlEscape(
          o.etag,
        )}</ETag><Type>Normal</Type><Size>${o.data.length}</Size><StorageClass>Standard</StorageClass></Contents>`;
      })
      .join('');
    const next = truncated
      ? `<NextContinuationToken>${Buffer.from(page[page.length - 1] as string).toString('base64url')}</NextContinuationToken>`
      : '';
    const xml = `<?xml version="1.0" encoding="UTF-8"?>\n<ListBucketResult><Name>${options.bucket}</Name><Prefix>${xmlEscape(
      prefix,
    )}</Prefix><MaxKeys>${maxKeys}</MaxKeys><EncodingType></EncodingType><IsTruncated>${truncated}</IsTruncated>${
      token ? `<ContinuationToken>${token}</ContinuationToken>` : ''
    }${next}<KeyCount>${page.length}</KeyCount>${contents}</ListBucketResult>`;
    send(res, 200, xml, { 'content-type': 'application/xml' });
  };

  const deleteMulti = async (req: IncomingMessage, res: ServerResponse) => {
    const body = await readBody(req);
    const md5 = header(req, 'content-md5');
    if (!md5) throw new OssError(400, 'InvalidDigest', 'DeleteMultipleObjects requires Content-MD5');
    if (md5 !== createHash('md5').update(body).digest('base64'))
      throw new OssError(400, 'InvalidDigest', 'The Content-MD5 you specified is not valid');
    const text = body.toString('utf8');
    const keys = [...text.matchAll(/<Key>([\s\S]*?)<\/Key>/g)].map((m) => xmlUnescape(m[1] as string));
    if (keys.length > 1000) throw new OssError(400, 'MalformedXML', 'Too many keys');
    for (const k of keys) objects.delete(k);
    const quiet = /<Quiet>true<\/Quiet>/.test(text);
    const deleted = quiet ? '' : keys.map((k) => `<Deleted><Key>${xmlEscape(k)}</Key></Deleted>`).join('');
    send(res, 200, `<?xml version="1.0" encoding="UTF-8"?>\n<DeleteResult>${deleted}</DeleteResult>`, {
      'content-type': 'application/xml',
    });
  };

  const server: Server = createServer((req, res) => {
    handle(req, res).catch((e) => {
      if (!(e instanceof OssError)) console.error('oss-server', e);
      // The body may not have been read: close the connection rather than reuse it.
      if (!req.complete) res.setHeader('connection', 'close');
      sendError(req, res, e instanceof OssError ? e : new OssError(500, 'InternalError', 'Internal error'));
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as AddressInfo).port;
  return {
    endpoint: `http://localhost:${port}`,
    port,
    seen,
    stop: () =>
      new Promise((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
