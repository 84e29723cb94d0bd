import { sql } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { rows } from '../../src/db/client.js';
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
      await expect(attempt).rejects.toThrow(/more than one statement/);
    } else {
      // PGlite has one connection and runs the work inside an ordinary transaction.
      await expect(attempt).resolves.toEqual([{ org: a.orgId }]);
    }
  });
});
