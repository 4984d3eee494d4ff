import type { Readable } from 'node:stream';
import busboy from 'busboy';
import { AppError } from '../errors';
import type { ApiRequest } from './api';

export interface MultipartFile {
  fields: Record<string, string>;
  stream: Readable;
  fileName: string;
  mimeType: string;
}

/**
 * Reads a multipart/form-data body up to its first file part and hands that part over as a stream
 * (nothing is buffered). Fields must come before the file, as in an S3 POST form: fields after it
 * are ignored.
 */
export function readMultipartFile(request: ApiRequest): Promise<MultipartFile> {
  const contentType = request.header('content-type') ?? '';
  if (!/^multipart\/form-data/i.test(contentType)) {
    throw new AppError('INVALID_REQUEST', 'The body must be multipart/form-data');
  }
  return new Promise((resolve, reject) => {
    let parser: busboy.Busboy;
    try {
      parser = busboy({
        headers: { 'content-type': contentType },
        limits: { files: 1, fields: 32, fieldSize: 64 * 1024 },
        defParamCharset: 'utf8',
      });
    } catch {
      reject(new AppError('INVALID_REQUEST', 'The multipart boundary is missing'));
      return;
    }
    const fields: Record<string, string> = {};
    let found = false;
    parser.on('field', (name, value) => {
      fields[name] = value;
    });
    parser.on('file', (_name, stream, info) => {
      found = true;
      resolve({ fields, stream, fileName: info.filename ?? '', mimeType: info.mimeType });
    });
    parser.on('error', () => reject(new AppError('INVALID_REQUEST', 'The multipart body is malformed')));
    parser.on('close', () => {
      if (!found) reject(new AppError('INVALID_REQUEST', 'The form has no file part'));
    });
    request.body().pipe(parser);
  });
}
