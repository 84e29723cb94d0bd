import { randomUUID } from 'node:crypto';
import type { IncomingMessage } from 'node:http';

const CLIENT_ID = /^[A-Za-z0-9._:-]{1,128}$/;

/**
 * The client's X-Request-Id (or X-Correlation-Id) when it is a plain token, else a new
 * UUID: a client cannot inject newlines or markup into our logs through its id.
 */
export function requestIdFrom(req: IncomingMessage): string {
  for (const name of ['x-request-id', 'x-correlation-id']) {
    const value = req.headers[name];
    if (typeof value === 'string' && CLIENT_ID.test(value)) return value;
  }
  return randomUUID();
}
