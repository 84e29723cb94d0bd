import { randomBytes, randomUUID } from 'node:crypto';
import { and, eq } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { sessions } from '../../src/db/schema.js';
import { registerOrg, testApp, type Member, type TestApp } from '../helpers/app.js';
import { openSocket, wsUrl, type Closed, type OpenSocket } from '../helpers/ws.js';
import { signIn } from '../identity/helpers.js';
import { accessToken, sessionIdOf } from './tokens.js';

/** CONTRACT section 8: a revoked session's socket is closed within 5 seconds. */
const DEADLINE_MS = 5_000;
const SECRET = randomBytes(32).toString('base64url');

let t: TestApp;
let url: string;
beforeAll(async () => {
  t = await testApp({ JWT_SECRET: SECRET });
  url = await wsUrl(t.app);
});
afterAll(() => t.close());

function closedWithin(s: OpenSocket, ms: number): Promise<Closed> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`socket still open after ${ms} ms`)), ms);
    void s.closed.then((c) => {
      clearTimeout(timer);
      resolve(c);
    });
  });
}

/** Proves a socket is still live and subscribed: it receives a fresh event. */
async function stillReceives(s: OpenSocket, m: Member) {
  const event = { type: 'conversation.updated' as const, data: { id: randomUUID() } };
  t.app.ctx.realtime.publish(m.orgId, event);
  expect(await s.nextMessage((e) => e.data.id === event.data.id)).toEqual(event);
}

type Revoke = (
  victim: { auth: { authorization: string }; token: string },
  m: Member,
) => Promise<unknown>;

describe('a socket lives no longer than its session', () => {
  it.each<[string, Revoke]>([
    [
      'logout',
      (v) => t.app.inject({ method: 'POST', url: '/api/v1/auth/logout', headers: v.auth }),
    ],
    [
      'sign out everywhere',
      (v) => t.app.inject({ method: 'POST', url: '/api/v1/auth/logout-all', headers: v.auth }),
    ],
    [
      'ending the session from another device (DELETE /sessions/:id)',
      (v, m) =>
        t.app.inject({
          method: 'DELETE',
          url: `/api/v1/sessions/${sessionIdOf(v.token)}`,
          headers: m.auth,
        }),
    ],
    [
      'a revocation whose announcement never arrived (another instance, lost message)',
      (v, m) =>
        t.db.withOrg(m.orgId, (tx) =>
          tx
            .update(sessions)
            .set({ revokedAt: new Date(), revokedReason: 'test' })
            .where(
              and(eq(sessions.organizationId, m.orgId), eq(sessions.id, sessionIdOf(v.token))),
            ),
        ),
    ],
    [
      'the organization starting to require MFA the member lacks',
      (_v, m) =>
        t.app.inject({
          method: 'PATCH',
          url: '/api/v1/organization',
          headers: m.auth,
          payload: { requireMfa: true },
        }),
    ],
  ])('%s closes the socket with 1008', async (_, revoke) => {
    const m = await registerOrg(t.app);
    const victim = await signIn(t.app, m.email);
    const s = await openSocket(url, victim.auth);
    await stillReceives(s, m);
    const res = (await revoke({ auth: victim.auth, token: victim.accessToken }, m)) as {
      statusCode?: number;
    };
    if (res?.statusCode !== undefined) expect(res.statusCode).toBeLessThan(300);
    expect((await closedWithin(s, DEADLINE_MS)).code).toBe(1008);
  });

  it("ending one session leaves the member's other sockets open", async () => {
    const m = await registerOrg(t.app);
    const other = await signIn(t.app, m.email);
    const kept = await openSocket(url, m.auth);
    const ended = await openSocket(url, other.auth);
    const res = await t.app.inject({
      method: 'DELETE',
      url: `/api/v1/sessions/${sessionIdOf(other.accessToken)}`,
      headers: m.auth,
    });
    expect(res.statusCode).toBe(204);
    expect((await closedWithin(ended, DEADLINE_MS)).code).toBe(1008);
    await stillReceives(kept, m);
    await kept.close();
  });

  it('closes the socket when the access token that opened it expires', async () => {
    const m = await registerOrg(t.app);
    const expiresAt = Math.floor(Date.now() / 1000) + 2;
    const shortLived = await accessToken(SECRET, m.token, { expiresAt });
    const s = await openSocket(url, { authorization: `Bearer ${shortLived}` });
    expect((await closedWithin(s, 2_000 + DEADLINE_MS)).code).toBe(1008);
  });
});

describe('a socket is read-only for the client', () => {
  it('closes a socket whose client sends a large frame', async () => {
    const m = await registerOrg(t.app);
    const s = await openSocket(url, m.auth);
    s.socket.send('x'.repeat(64 * 1024));
    expect((await s.closed).code).toBe(1009);
  });

  it('ignores a small client message and keeps delivering', async () => {
    const m = await registerOrg(t.app);
    const s = await openSocket(url, m.auth);
    s.socket.send(JSON.stringify({ type: 'subscribe', orgId: randomUUID() }));
    await stillReceives(s, m);
    await s.close();
  });

  it('caps the sockets one member may hold', async () => {
    const m = await registerOrg(t.app);
    const open = await Promise.all(Array.from({ length: 20 }, () => openSocket(url, m.auth)));
    const extra = await openSocket(url, m.auth);
    expect(await extra.closed).toEqual({ code: 1008, reason: 'too many sockets' });
    await stillReceives(open[0]!, m);
    await Promise.all(open.map((s) => s.close()));
  });
});
