import type { Readable } from 'node:stream';

/**
 * The local server streams large bodies instead of base64-encoding them into the event (which is
 * what API Gateway does, up to its ~6 MB cap). It hands the request stream to the handler through
 * this side channel, and marks the event so that the handler may answer with a stream too.
 * In Lambda nothing is attached and both fall back to the event's own body.
 */
const requestStreams = new WeakMap<object, Readable>();

export function attachRequestStream(event: object, stream: Readable): void {
  requestStreams.set(event, stream);
}

export const requestStreamOf = (event: object): Readable | undefined => requestStreams.get(event);

const streamingEvents = new WeakSet<object>();

export function allowStreamingResponse(event: object): void {
  streamingEvents.add(event);
}

export const canStreamResponse = (event: object): boolean => streamingEvents.has(event);
