import type { FastifyRequest } from 'fastify';

/** Where a request came from, as audit rows and security events record it. */
export interface RequestOrigin {
  ip: string;
  userAgent: string | null;
  requestId: string;
}

export const originOf = (request: FastifyRequest): RequestOrigin => ({
  ip: request.ip,
  userAgent: request.headers['user-agent']?.slice(0, 512) ?? null,
  requestId: request.id,
});
