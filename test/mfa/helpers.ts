import type { FastifyInstance, LightMyRequestResponse } from 'fastify';
import { generate } from 'otplib';
import { vi } from 'vitest';
import { rows } from '../../src/db/client.js';
import type { Database } from '../../src/db/client.js';
import { ownerOf } from '../../src/db/owner.js';
import { sql, type SQL } from 'drizzle-orm';
import { PASSWORD, type Member } from '../helpers/app.js';
import { services } from '../helpers/services.js';

export const STEP_MS = 30_000;

/** The TOTP code of the step `offset` steps from now (negative: the past). */
export const codeAt = (secret: string, offset = 0) =>
  generate({ secret, epoch: Math.floor((Date.now() + offset * STEP_MS) / 1000) });

/** A 6-digit code that is none of the codes accepted right now. */
export async function wrongCode(secret: string): Promise<string> {
  const valid = new Set(await Promise.all([-1, 0, 1].map((o) => codeAt(secret, o))));
  for (let n = 0; ; n++) {
    const candidate = String((123456 + n * 7919) % 1_000_000).padStart(6, '0');
    if (!valid.has(candidate)) return candidate;
  }
}

/** Moves the application's clock (Date only; timers stay real) forward by whole steps. */
export function advanceSteps(steps: number) {
  if (!vi.isFakeTimers()) vi.useFakeTimers({ toFake: ['Date'] });
  vi.setSystemTime(Date.now() + steps * STEP_MS);
}

export const post = (
  app: FastifyInstance,
  url: string,
  payload: Record<string, unknown> | undefined,
  headers: Record<string, string> = {},
): Promise<LightMyRequestResponse> =>
  app.inject({
    method: 'POST',
    url: `/api/v1${url}`,
    headers,
    ...(payload === undefined ? {} : { payload }),
  });

export interface Enrolment {
  secret: string;
  otpauthUrl: string;
  recoveryCodes: string[];
}

/** Setup + enable with the current step's code (that step is then spent). */
export async function enrol(app: FastifyInstance, member: Member): Promise<Enrolment> {
  const setup = await post(app, '/auth/mfa/totp/setup', undefined, member.auth);
  if (setup.statusCode !== 200) throw new Error(`setup: ${setup.statusCode} ${setup.body}`);
  const { secret, otpauthUrl } = setup.json<{ secret: string; otpauthUrl: string }>();
  const enable = await post(
    app,
    '/auth/mfa/totp/enable',
    { code: await codeAt(secret), password: PASSWORD },
    member.auth,
  );
  if (enable.statusCode !== 200) throw new Error(`enable: ${enable.statusCode} ${enable.body}`);
  return {
    secret,
    otpauthUrl,
    recoveryCodes: enable.json<{ recoveryCodes: string[] }>().recoveryCodes,
  };
}

export const login = (app: FastifyInstance, email: string, mode: 'token' | 'cookie' = 'token') =>
  post(
    app,
    '/auth/login',
    { email, password: PASSWORD },
    mode === 'token' ? { 'x-auth-mode': 'token' } : {},
  );

/** Signs in with the password and answers the mfaToken of the 401 mfa_required. */
export async function challenge(app: FastifyInstance, email: string): Promise<string> {
  const res = await login(app, email);
  if (res.statusCode !== 401 || res.json().code !== 'mfa_required') {
    throw new Error(`expected mfa_required: ${res.statusCode} ${res.body}`);
  }
  return res.json<{ mfaToken: string }>().mfaToken;
}

export const secondStep = (
  app: FastifyInstance,
  mfaToken: string,
  code: string,
  headers: Record<string, string> = { 'x-auth-mode': 'token' },
): Promise<LightMyRequestResponse> => post(app, '/auth/login/mfa', { mfaToken, code }, headers);

/** Reads as the owner role, past row-level security: what is really stored. */
export async function asOwner<R>(db: Database, query: SQL): Promise<R[]> {
  const owner = ownerOf(db, services().migrationUrl);
  try {
    return await owner.run((tx) => rows<R>(tx, query));
  } finally {
    await owner.close();
  }
}

export const storedTotp = (db: Database, userId: string) =>
  asOwner<{ secret: string | null; pending_secret: string | null; last_used_step: string | null }>(
    db,
    sql`select secret, pending_secret, last_used_step::text from user_totp where user_id = ${userId}`,
  ).then((r) => r[0]);
