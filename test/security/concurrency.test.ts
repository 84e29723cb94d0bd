import { sql } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createDatabase, rows, type Database } from '../../src/db/client.js';
import { customers } from '../../src/db/schema.js';
import { createCustomer, registerOrg, testApp, type TestApp } from '../helpers/app.js';

let t: TestApp;
beforeAll(async () => {
  t = await testApp();
});
afterAll(() => t.close());

describe('tenant scope under concurrency', () => {
  it('never answers one organization with the rows of another when requests interleave', async () => {
    const a = await registerOrg(t.app, 'A');
    const b = await registerOrg(t.app, 'B');
    const own = new Map<string, Set<string>>([
      [a.orgId, new Set()],
      [b.orgId, new Set()],
    ]);
    for (const m of [a, b]) {
      for (let i = 0; i < 5; i++) own.get(m.orgId)!.add((await createCustomer(t.app, m)).id);
    }
    // 300 requests in flight at once, alternating organizations and routes, so that scope
    // statements of one transaction and queries of another meet on the same connections.
    const requests = Array.from({ length: 300 }, (_, i) => {
      const m = i % 2 === 0 ? a : b;
      const ids = [...own.get(m.orgId)!];
      const url =
        i % 3 === 0 ? '/api/v1/customers?limit=100' : `/api/v1/customers/${ids[i % ids.length]}`;
      return t.app.inject({ url, headers: m.auth }).then((res) => ({ m, res }));
    });
    for (const { m, res } of await Promise.all(requests)) {
      expect(res.statusCode).toBe(200);
      const body = res.json();
      const seen: string[] = body.data ? body.data.map((c: { id: string }) => c.id) : [body.id];
      for (const id of seen) expect(own.get(m.orgId)!.has(id)).toBe(true);
    }
  });

  it('refuses a second statement in a single-statement transaction instead of running it unscoped', async () => {
    const a = await registerOrg(t.app, 'A');
    const attempt = t.db.withOrgStatement(a.orgId, async (tx) => {
      await rows(tx, sql`select 1`);
      return rows(tx, sql`select current_setting('app.org_id', true) as org`);
    });
    if (t.db.kind === 'postgres') {
      // drizzle wraps the refusal in its "Failed query" error; the cause is ours.
      const err: unknown = await attempt.catch((e: unknown) => e);
      expect((err as { cause?: Error }).cause?.message).toMatch(/more than one statement/);
    } else {
      // PGlite has one connection and runs the work inside an ordinary transaction.
      await expect(attempt).resolves.toEqual([{ org: a.orgId }]);
    }
  });

  // Lanes serve non-privileged logins; a superuser login (refused in production, warned
  // elsewhere) takes the exclusive-connection path instead. Both must keep every statement
  // inside its own organization's scope while hundreds interleave.
  const databases: [string, () => Promise<{ db: Database; close: () => Promise<void> }>][] = [
    ['the app database', async () => ({ db: t.db, close: async () => {} })],
  ];
  if (process.env.DATABASE_URL) {
    databases.push([
      'a superuser login (exclusive connections)',
      async () => {
        const db = await createDatabase({ url: process.env.DATABASE_MIGRATION_URL });
        return { db, close: () => db.close() };
      },
    ]);
  }
  it.each(databases)('scopes interleaved single-statement transactions on %s', async (_, open) => {
    const a = await registerOrg(t.app, 'A');
    const b = await registerOrg(t.app, 'B');
    const mine = new Map([
      [
        a.orgId,
        new Set([(await createCustomer(t.app, a)).id, (await createCustomer(t.app, a)).id]),
      ],
      [b.orgId, new Set([(await createCustomer(t.app, b)).id])],
    ]);
    const { db, close } = await open();
    try {
      const results = await Promise.all(
        Array.from({ length: 400 }, (_, i) => {
          const org = i % 2 ? a.orgId : b.orgId;
          return db
            .withOrgStatement(org, (tx) => tx.select({ id: customers.id }).from(customers))
            .then((found) => ({ org, ids: found.map((r) => r.id) }));
        }),
      );
      for (const { org, ids } of results) expect(new Set(ids)).toEqual(mine.get(org));
    } finally {
      await close();
    }
  });
});
