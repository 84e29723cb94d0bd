import type { ConnectionError, FastifyBaseLogger } from 'fastify';
import { randomUUID } from 'node:crypto';
import { STATUS_CODES, type ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import { problemBody } from './errors.js';
import { SECURITY_HEADERS } from './headers.js';

/**
 * What Node's parser refuses before there is any request for Fastify to route: bad
 * Content-Length or chunking, an unknown method, headers or request line too large, a
 * request not finished in time. Node's and Fastify's own answers carry none of the
 * browser protections and no request id, so a probe could tell the edge apart and an
 * operator could not match the refusal to a log line.
 */
const statusOf = (code: string) =>
  code === 'HPE_HEADER_OVERFLOW' ? 431 : code === 'ERR_HTTP_REQUEST_TIMEOUT' ? 408 : 400;

const DETAIL: Record<number, string> = {
  400: 'The request could not be parsed as HTTP',
  408: 'The request was not completed in time',
  431: 'The request line or headers are too large',
};

/** The response Node is writing on this socket, if any (Node's own check uses it too). */
const inFlightOn = (socket: Socket) =>
  (socket as Socket & { _httpMessage?: ServerResponse | null })._httpMessage ?? undefined;

/**
 * An earlier, well-formed request on this connection (pipelined) is answered first, so
 * our problem never takes the place of its answer; a refusal of the request now being
 * read is the answer to that request and goes at once.
 */
function afterEarlierAnswer(socket: Socket, answer: () => void): void {
  const inFlight = inFlightOn(socket);
  if (!inFlight || inFlight.writableFinished || !(inFlight.headersSent || inFlight.req.complete)) {
    answer();
    return;
  }
  inFlight.once('finish', answer);
  inFlight.once('close', () => {
    if (!inFlight.writableFinished) socket.destroy();
  });
}

/** The raw HTTP/1.1 bytes of a malformed_request problem, then the connection closes. */
export function malformedResponse(status: number, requestId: string): string {
  const body = JSON.stringify(
    problemBody({ code: 'malformed_request', detail: DETAIL[status] }, requestId, status),
  );
  const headers: Record<string, string> = {
    ...SECURITY_HEADERS,
    'content-type': 'application/problem+json; charset=utf-8',
    'content-length': String(Buffer.byteLength(body)),
    'x-request-id': requestId,
    connection: 'close',
  };
  const lines = Object.entries(headers).map(([k, v]) => `${k}: ${v}`);
  return `HTTP/1.1 ${status} ${STATUS_CODES[status]}\r\n${lines.join('\r\n')}\r\n\r\n${body}`;
}

/** Fastify's `clientErrorHandler`: `this` is the Fastify instance. */
export function malformedRequests(
  this: { log: FastifyBaseLogger },
  err: ConnectionError,
  socket: Socket,
): void {
  if (err.code === 'ECONNRESET' || socket.destroyed) return;
  const status = statusOf(err.code);
  const requestId = randomUUID();
  // The code only: the error's rawPacket holds the client's bytes, credentials included.
  this.log.info({ requestId, code: err.code, status }, 'malformed request refused');
  afterEarlierAnswer(socket, () => {
    if (!socket.writable) return void socket.destroy();
    socket.end(malformedResponse(status, requestId), () => socket.destroy());
  });
}
