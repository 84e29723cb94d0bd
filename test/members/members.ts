import type { FastifyInstance, LightMyRequestResponse } from 'fastify';
import { randomUUID } from 'node:crypto';
import { expect } from 'vitest';
import type { Role } from '../../src/db/schema.js';
import { PASSWORD, testApp, type Member, type TestApp } from '../helpers/app.js';

/** These tests sign in many members from one address: the per-IP auth limit is not their subject. */
export const membersApp = (): Promise<TestApp> =>
  testApp({ RATE_LIMIT_AUTH_IP_MAX: '100000', RATE_LIMIT_MAX: '100000' });

export interface User {
  id: string;
  email: string;
  name: string;
  role: Role;
  mfaEnabled: boolean;
}

let ip = 0;
/** A different client address per sign-in, so no IP-based limit couples the tests. */
const nextIp = () => `10.77.${(++ip >> 8) & 255}.${ip & 255}`;

export async function signIn(
  app: FastifyInstance,
  email: string,
  password = PASSWORD,
): Promise<LightMyRequestResponse> {
  return app.inject({
    method: 'POST',
    url: '/api/v1/auth/login',
    headers: { 'x-auth-mode': 'token' },
    remoteAddress: nextIp(),
    payload: { email, password },
  });
}

/** Adds a member through POST /users as `by` (an owner or admin), then signs them in. */
export async function addMember(app: FastifyInstance, by: Member, role: Role): Promise<Member> {
  const email = `${role}-${randomUUID()}@example.test`;
  const created = await app.inject({
    method: 'POST',
    url: '/api/v1/users',
    headers: by.auth,
    payload: { email, name: `A ${role}`, role, password: PASSWORD },
  });
  if (created.statusCode !== 201) {
    throw new Error(`add member failed: ${created.statusCode} ${created.body}`);
  }
  const login = await signIn(app, email);
  if (login.statusCode !== 200) throw new Error(`login failed: ${login.statusCode} ${login.body}`);
  const body = login.json<{ accessToken: string; refreshToken: string; user: { id: string } }>();
  return {
    token: body.accessToken,
    refreshToken: body.refreshToken,
    userId: body.user.id,
    orgId: by.orgId,
    email,
    auth: { authorization: `Bearer ${body.accessToken}` },
  };
}

export async function listUsers(app: FastifyInstance, member: Member): Promise<User[]> {
  const res = await app.inject({ url: '/api/v1/users?limit=100', headers: member.auth });
  expect(res.statusCode).toBe(200);
  return res.json<{ data: User[] }>().data;
}

export async function userById(app: FastifyInstance, member: Member, id: string) {
  return (await listUsers(app, member)).find((u) => u.id === id);
}

export { expectProblem } from '../helpers/problems.js';

export const patchUser = (
  app: FastifyInstance,
  by: Member,
  id: string,
  payload: Record<string, unknown>,
) => app.inject({ method: 'PATCH', url: `/api/v1/users/${id}`, headers: by.auth, payload });

export const deleteUser = (app: FastifyInstance, by: Member, id: string) =>
  app.inject({ method: 'DELETE', url: `/api/v1/users/${id}`, headers: by.auth });
