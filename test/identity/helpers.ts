import type { FastifyInstance } from 'fastify';
import { randomBytes } from 'node:crypto';
import { PASSWORD } from '../helpers/app.js';

/** A client address of its own, so per-address limits of parallel tests never meet. */
export const newIp = () => `10.${randomBytes(1)[0]}.${randomBytes(1)[0]}.${randomBytes(1)[0]}`;

/** Signs in again as an existing user (token mode): a second session/device. */
export async function signIn(app: FastifyInstance, email: string, password = PASSWORD) {
  const res = await app.inject({
    method: 'POST',
    url: '/api/v1/auth/login',
    headers: { 'x-auth-mode': 'token' },
    remoteAddress: newIp(),
    payload: { email, password },
  });
  if (res.statusCode !== 200) throw new Error(`login failed: ${res.statusCode} ${res.body}`);
  const body = res.json<{ accessToken: string; refreshToken: string }>();
  return { ...body, auth: { authorization: `Bearer ${body.accessToken}` } };
}

export const refresh = (app: FastifyInstance, refreshToken: string) =>
  app.inject({
    method: 'POST',
    url: '/api/v1/auth/refresh',
    headers: { 'x-auth-mode': 'token' },
    payload: { refreshToken },
  });

export const me = (app: FastifyInstance, auth: { authorization: string }) =>
  app.inject({ url: '/api/v1/auth/me', headers: auth });
