import { finished, PassThrough, type Readable } from 'node:stream';
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
 * are ignored. When the body fails (the client goes away, the form is malformed or cut short), the
 * file stream fails with an INVALID_REQUEST error, so the upload reading it stops and cleans up.
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
    const source = request.body();
    const fields: Record<string, string> = {};
    let file: PassThrough | undefined;
    const fail = (error: AppError) => {
      file?.destroy(error);
      reject(error); // no effect once the file part was handed over: then the file stream carries it
    };
    parser.on('field', (name, value) => {
      fields[name] = value;
    });
    parser.on('file', (_name, part, info) => {
      // Busboy ends its part stream with its own errors (or the source's); the stream handed out
      // fails with a client error instead, whatever ended the form.
      file = new PassThrough();
      // The form may fail before the upload starts reading: the error stays on the stream (a later
      // pipeline gets it), and must not be an unhandled 'error' event that ends the process.
      file.on('error', () => undefined);
      part.on('error', () => fail(new AppError('INVALID_REQUEST', 'The multipart body is malformed')));
      part.pipe(file);
      resolve({ fields, stream: file, fileName: info.filename ?? '', mimeType: info.mimeType });
    });
    parser.on('error', () => fail(new AppError('INVALID_REQUEST', 'The multipart body is malformed')));
    parser.on('close', () => {
      if (!file) reject(new AppError('INVALID_REQUEST', 'The form has no file part'));
    });
    // .pipe() does not forward a source's error: a client gone mid-body would leave busboy, and the
    // upload reading the file part, waiting forever. The source is not destroyed when the form is
    // malformed, so that the 400 can still be answered on the connection.
    finished(source, (error) => {
      if (error) {
        const gone = new AppError('INVALID_REQUEST', 'The request body ended before the form did');
        fail(gone);
        parser.destroy(gone);
      }
    });
    source.pipe(parser);
  });
}
