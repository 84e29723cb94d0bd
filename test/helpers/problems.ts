import type { LightMyRequestResponse } from 'fastify';
import { expect } from 'vitest';
import type { RawResponse } from './raw-http.js';

type AnyResponse = LightMyRequestResponse | RawResponse;

const statusOf = (res: AnyResponse) => ('statusCode' in res ? res.statusCode : res.status);
const headerOf = (res: AnyResponse, name: string) => {
  const value = res.headers[name];
  return Array.isArray(value) ? value.join(', ') : value;
};

/**
 * CONTRACT section 2: an RFC 9457 problem with the expected status and stable code, whose
 * requestId is the X-Request-Id the response carries. Returns the parsed body.
 */
export function expectProblem(res: AnyResponse, status: number, code: string) {
  const text = 'payload' in res ? res.payload : res.body;
  expect(statusOf(res), text).toBe(status);
  expect(headerOf(res, 'content-type')).toMatch(/^application\/problem\+json/);
  const body = JSON.parse(text) as Record<string, unknown>;
  expect(body).toMatchObject({ status, code });
  expect(typeof body.type).toBe('string');
  expect(typeof body.title).toBe('string');
  expect(typeof body.requestId).toBe('string');
  expect(body.requestId).not.toBe('');
  expect(body.requestId).toBe(headerOf(res, 'x-request-id'));
  return body;
}
