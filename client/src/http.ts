import { errorFromResponse } from './errors.js';

export type FetchLike = (input: string, init?: RequestInit) => Promise<Response>;
export type QueryValue = string | number | boolean | undefined;

export interface TransportOptions {
  baseUrl: string;
  token?: string;
  getToken?: () => string | Promise<string>;
  storage?: string;
  fetch?: FetchLike;
}

export interface CallOptions {
  query?: Record<string, QueryValue>;
  /** Sent as JSON. */
  json?: unknown;
  body?: Blob;
  headers?: Record<string, string>;
  signal?: AbortSignal;
}

/**
 * A path inside the tenant as it goes into a URL: each segment percent-encoded on its own, so a
 * `/` separates folders while `%`, `?`, `#` and spaces stay part of the name (README: "Names").
 */
export const encodePath = (path: string) => path.split('/').map(encodeURIComponent).join('/');

/** The requests of one client: base URL, token, `?storage=`, and error answers as StorageApiError. */
export class Transport {
  readonly baseUrl: string;
  private readonly fetchImpl: FetchLike;

  constructor(private readonly options: TransportOptions) {
    this.baseUrl = options.baseUrl.replace(/\/+$/, '');
    const f = options.fetch ?? globalThis.fetch;
    // Called without a receiver: a browser's fetch throws "Illegal invocation" when called as
    // a method of another object.
    this.fetchImpl = (input, init) => f(input, init);
  }

  url(route: string, query: Record<string, QueryValue> = {}): string {
    const params = new URLSearchParams();
    for (const [name, value] of Object.entries(query)) {
      if (value !== undefined) params.set(name, String(value));
    }
    if (this.options.storage) params.set('storage', this.options.storage);
    const search = params.toString();
    return `${this.baseUrl}${route}${search ? `?${search}` : ''}`;
  }

  private async authorization(): Promise<Record<string, string>> {
    const token = this.options.getToken ? await this.options.getToken() : this.options.token;
    return token ? { authorization: `Bearer ${token}` } : {};
  }

  /** An API request; a failed answer throws StorageApiError (its body read). */
  async call(method: string, route: string, options: CallOptions = {}): Promise<Response> {
    const headers: Record<string, string> = { ...(await this.authorization()), ...options.headers };
    let body: Blob | string | undefined = options.body;
    if (options.json !== undefined) {
      headers['content-type'] = 'application/json';
      body = JSON.stringify(options.json);
    }
    const response = await this.fetchImpl(this.url(route, options.query), {
      method,
      headers,
      ...(body === undefined ? {} : { body }),
      ...(options.signal ? { signal: options.signal } : {}),
    });
    // After a redirect (a download's 302) the answer is the storage's, not the API's.
    if (!response.ok) throw await errorFromResponse(response, response.redirected);
    return response;
  }

  async json<T>(method: string, route: string, options: CallOptions = {}): Promise<T> {
    return (await (await this.call(method, route, options)).json()) as T;
  }

  /** A request to a presigned URL of the storage: no token (the URL is the credential). */
  async storage(url: string, init: RequestInit): Promise<Response> {
    const response = await this.fetchImpl(url, init);
    if (!response.ok) throw await errorFromResponse(response, true);
    return response;
  }
}
