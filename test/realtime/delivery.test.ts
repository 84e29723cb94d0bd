import { randomBytes, randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { registerOrg, testApp, type TestApp } from '../helpers/app.js';
import { openSocket, wsUrl } from '../helpers/ws.js';

const created = (marker: string) => ({
  type: 'message.created' as const,
  data: { id: randomUUID(), marker },
});

let t: TestApp;
let url: string;
beforeAll(async () => {
  t = await testApp();
  url = await wsUrl(t.app);
});
afterAll(() => t.close());

describe('events reach only their organization', () => {
  it("delivers org A's event to every socket of A and never to B's", async () => {
    const a = await registerOrg(t.app, 'A');
    const b = await registerOrg(t.app, 'B');
    const a1 = await openSocket(url, a.auth);
    const a2 = await openSocket(url, a.auth);
    const attacker = await openSocket(url, b.auth);
    try {
      const secret = created('for A only');
      t.app.ctx.realtime.publish(a.orgId, secret);
      // The bus keeps order: had B's socket received A's event, it would come before this.
      const sentinel = created('for B');
      t.app.ctx.realtime.publish(b.orgId, sentinel);

      expect(await a1.nextMessage()).toEqual(secret);
      expect(await a2.nextMessage()).toEqual(secret);
      expect(await attacker.nextMessage()).toEqual(sentinel);
      // Nor does A see B's: A's next event is the one published after B's.
      const later = created('A again');
      t.app.ctx.realtime.publish(a.orgId, later);
      expect(await a1.nextMessage()).toEqual(later);
    } finally {
      await Promise.all([a1.close(), a2.close(), attacker.close()]);
    }
  });

  it('sends only {type, data}: nothing else of the envelope reaches the client', async () => {
    const a = await registerOrg(t.app);
    const s = await openSocket(url, a.auth);
    try {
      const event = created('shape');
      t.app.ctx.realtime.publish(a.orgId, event);
      const got = await s.nextMessage();
      expect(Object.keys(got).sort()).toEqual(['data', 'type']);
      expect(JSON.stringify(got)).not.toContain(a.orgId);
    } finally {
      await s.close();
    }
  });

  it('closes every socket when the app shuts down (going away)', async () => {
    const own = await testApp();
    const m = await registerOrg(own.app);
    const s = await openSocket(await wsUrl(own.app), m.auth);
    await own.close();
    expect((await s.closed).code).toBe(1001);
  });
});

// Two servers on one PostgreSQL and one Redis, as behind a load balancer.
describe.runIf(!!process.env.DATABASE_URL && !!process.env.REDIS_URL)('across instances', () => {
  it('an event published on instance A reaches the organization’s socket on B only', async () => {
    const shared = { JWT_SECRET: randomBytes(32).toString('base64url') };
    const first = await testApp(shared);
    const second = await testApp(shared);
    try {
      const a = await registerOrg(first.app, 'A');
      const b = await registerOrg(first.app, 'B');
      const onSecond = await wsUrl(second.app);
      const socketA = await openSocket(onSecond, a.auth);
      const socketB = await openSocket(onSecond, b.auth);
      const event = created('via redis');
      first.app.ctx.realtime.publish(a.orgId, event);
      const sentinel = created('for B');
      first.app.ctx.realtime.publish(b.orgId, sentinel);
      expect(await socketA.nextMessage()).toEqual(event);
      expect(await socketB.nextMessage()).toEqual(sentinel);
      await Promise.all([socketA.close(), socketB.close()]);
    } finally {
      await first.close();
      await second.close();
    }
  });
});
