import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { testApp, type TestApp } from '../helpers/app.js';
import { expectProblem } from '../helpers/problems.js';
import { listenLocal, rawRequest } from '../helpers/raw-http.js';

/**
 * CONTRACT sections 2 and 4: a request Node's parser refuses (bad framing, an invalid
 * method, headers or request line too large) is still answered as problem+json
 * `malformed_request` with the browser protections and a request id, and the connection
 * is closed. Node's default answer had neither; a client library would refuse to send
 * these bytes, so they go over a raw socket.
 */

let t: TestApp;
let port: number;
beforeAll(async () => {
  t = await testApp();
  port = await listenLocal(t.app);
});
afterAll(() => t.close());

const head = (line: string, headers = '') => `${line}\r\nHost: bastion.test\r\n${headers}`;
const post = (headers: string, body: string) =>
  `${head('POST /api/v1/auth/login HTTP/1.1', `Content-Type: application/json\r\n${headers}`)}\r\n${body}`;

const malformed: [string, string, number][] = [
  ['a non-numeric Content-Length', post('Content-Length: abc\r\n', '{}'), 400],
  ['two different Content-Lengths', post('Content-Length: 2\r\nContent-Length: 3\r\n', '{}'), 400],
  [
    'Content-Length beside chunked (request smuggling)',
    post('Content-Length: 2\r\nTransfer-Encoding: chunked\r\n', '2\r\n{}\r\n0\r\n\r\n'),
    400,
  ],
  ['a bad chunk size', post('Transfer-Encoding: chunked\r\n', 'zz\r\n{}\r\n0\r\n\r\n'), 400],
  ['an invalid method', `${head('BREW /health HTTP/1.1')}\r\n`, 400],
  ['a space in the method', `${head('G ET /health HTTP/1.1')}\r\n`, 400],
  ['a header without a colon', `${head('GET /health HTTP/1.1', 'Broken header\r\n')}\r\n`, 400],
  ['a bare LF in a header value', `${head('GET /health HTTP/1.1', 'X-A: a\nb: c\r\n')}\r\n`, 400],
  [
    'headers over the limit',
    `${head('GET /health HTTP/1.1', `X-Pad: ${'a'.repeat(20_000)}\r\n`)}\r\n`,
    431,
  ],
  ['a request line too long', `${head(`GET /${'a'.repeat(20_000)} HTTP/1.1`)}\r\n`, 431],
];

const CONTRACT_HEADERS: Record<string, string> = {
  'content-security-policy': "default-src 'none'; frame-ancestors 'none'",
  'strict-transport-security': 'max-age=31536000; includeSubDomains',
  'x-content-type-options': 'nosniff',
  'x-frame-options': 'DENY',
  'referrer-policy': 'no-referrer',
  'cross-origin-opener-policy': 'same-origin',
  'cross-origin-resource-policy': 'same-origin',
};

describe('malformed HTTP is answered as a problem', () => {
  it.each(malformed)('%s: malformed_request with the headers', async (_label, bytes, status) => {
    // rawRequest returns once the server has closed the connection.
    const res = await rawRequest(port, bytes);
    const body = expectProblem(res, status, 'malformed_request');
    expect(body.requestId).toMatch(/^[0-9a-f-]{36}$/);
    expect(res.headers).toMatchObject(CONTRACT_HEADERS);
    expect(res.headers.connection).toBe('close');
    expect(res.headers['x-powered-by']).toBeUndefined();

    const next = await rawRequest(
      port,
      `${head('GET /health HTTP/1.1', 'Connection: close\r\n')}\r\n`,
    );
    expect(next.status, next.body).toBe(200);
  });

  it('after a good request on the same connection, a malformed one is still a problem', async () => {
    const good = `${head('GET /health HTTP/1.1')}\r\n`;
    const res = await rawRequest(port, `${good}${head('BREW /health HTTP/1.1')}\r\n`);
    // The first answer is the 200; the problem follows it on the same connection.
    expect(res.status).toBe(200);
    const second = res.body.slice(res.body.indexOf('HTTP/1.1 '));
    expect(second).toMatch(/^HTTP\/1\.1 400 /);
    expect(second).toContain('"code":"malformed_request"');
    expect(second).toContain("content-security-policy: default-src 'none'");
  });
});

describe('a body that does not match its Content-Length', () => {
  it('is malformed_request with the headers', async () => {
    const res = await t.app.inject({
      method: 'POST',
      url: '/api/v1/auth/login',
      headers: { 'content-type': 'application/json', 'content-length': '3' },
      payload: '{"email":"a@example.test"}',
    });
    expectProblem(res, 400, 'malformed_request');
    expect(res.headers).toMatchObject(CONTRACT_HEADERS);
  });
});
