import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  createCustomer,
  newPhone,
  registerOrg,
  type Member,
  type TestApp,
} from '../helpers/app.js';
import { auditApp } from './helpers.js';

/** CONTRACT section 10: GET /audit-logs and /security-events, admins of the organization only. */

let t: TestApp;
beforeAll(async () => {
  t = await auditApp();
});
afterAll(() => t.close());

interface Page<T> {
  data: T[];
  nextCursor: string | null;
}
interface AuditRow {
  id: string;
  at: string;
  actor: string | null;
  action: string;
  target: { type: string; id: string | null } | null;
  ip: string | null;
  userAgent: string | null;
  requestId: string | null;
  metadata: Record<string, unknown>;
}

async function get<T>(who: Member, url: string): Promise<Page<T>> {
  const res = await t.app.inject({ method: 'GET', url, headers: who.auth });
  expect(res.statusCode, res.body).toBe(200);
  return res.json<Page<T>>();
}
const auditOf = (who: Member, query = '') => get<AuditRow>(who, `/api/v1/audit-logs${query}`);

describe('customer changes are audited', () => {
  it('records create, update and delete with actor, ip, user agent and request id', async () => {
    const a = await registerOrg(t.app, 'A');
    const from = { remoteAddress: '203.0.113.7' };
    const headers = (id: string) => ({
      ...a.auth,
      'user-agent': 'AuditTest/1.0',
      'x-request-id': id,
    });
    const created = await t.app.inject({
      method: 'POST',
      url: '/api/v1/customers',
      headers: headers('req-create-1'),
      payload: { name: 'Ada', phone: newPhone(), notes: 'private note' },
      ...from,
    });
    expect(created.statusCode).toBe(201);
    const id = created.json<{ id: string }>().id;
    const patched = await t.app.inject({
      method: 'PATCH',
      url: `/api/v1/customers/${id}`,
      headers: headers('req-update-1'),
      payload: { name: 'Ada L.', notes: 'another private note' },
      ...from,
    });
    expect(patched.statusCode).toBe(200);
    const deleted = await t.app.inject({
      method: 'DELETE',
      url: `/api/v1/customers/${id}`,
      headers: headers('req-delete-1'),
      ...from,
    });
    expect(deleted.statusCode).toBe(204);

    const { data } = await auditOf(a);
    const mine = data.filter((r) => r.target?.type === 'customer');
    expect(mine.map((r) => [r.action, r.requestId])).toEqual([
      ['customer.deleted', 'req-delete-1'],
      ['customer.updated', 'req-update-1'],
      ['customer.created', 'req-create-1'],
    ]);
    for (const row of mine) {
      expect(row).toMatchObject({
        actor: a.userId,
        target: { type: 'customer', id },
        ip: '203.0.113.7',
        userAgent: 'AuditTest/1.0',
      });
      expect(Date.parse(row.at)).not.toBeNaN();
      expect(Object.keys(row).sort()).toEqual(
        [
          'action',
          'actor',
          'at',
          'id',
          'ip',
          'metadata',
          'requestId',
          'target',
          'userAgent',
        ].sort(),
      );
    }
    expect(mine[1]!.metadata).toEqual({ fields: ['name', 'notes'] });
    expect(JSON.stringify(data)).not.toContain('private note');
  });

  it.each([
    ['a duplicate phone (409)', 409],
    ['an unknown customer id (404)', 404],
  ])('writes no audit row for a refused change: %s', async (_name, status) => {
    const a = await registerOrg(t.app, 'A');
    const existing = await createCustomer(t.app, a);
    const res =
      status === 409
        ? await t.app.inject({
            method: 'POST',
            url: '/api/v1/customers',
            headers: a.auth,
            payload: { name: 'Twin', phone: existing.phone },
          })
        : await t.app.inject({
            method: 'DELETE',
            url: '/api/v1/customers/01890000-0000-7000-8000-000000000000',
            headers: a.auth,
          });
    expect(res.statusCode).toBe(status);
    const { data } = await auditOf(a);
    expect(data.filter((r) => r.target?.type === 'customer')).toHaveLength(1);
  });
});

describe('bad queries', () => {
  it.each([
    ['?limit=0'],
    ['?limit=101'],
    ['?limit=ten'],
    ['?cursor=not-a-uuid'],
    ['?organizationId=01890000-0000-7000-8000-000000000000'],
    ['?action=DROP%20TABLE'],
  ])('refuses a bad query %s with 400', async (query) => {
    const a = await registerOrg(t.app, 'A');
    const res = await t.app.inject({
      method: 'GET',
      url: `/api/v1/audit-logs${query}`,
      headers: a.auth,
    });
    expect(res.statusCode).toBe(400);
    expect(res.json()).toMatchObject({ code: 'validation_failed' });
  });
});

describe("another organization's records", () => {
  it("never shows another organization's audit rows, not even through its cursor", async () => {
    const a = await registerOrg(t.app, 'A');
    const b = await registerOrg(t.app, 'B');
    for (let i = 0; i < 3; i++) await createCustomer(t.app, a);
    await createCustomer(t.app, b);
    const aRows = (await auditOf(a)).data;
    const aIds = new Set(aRows.map((r) => r.id));
    expect(aIds.size).toBeGreaterThanOrEqual(3);
    const seenByB = [
      ...(await auditOf(b)).data,
      ...(await auditOf(b, `?cursor=${aRows[0]!.id}`)).data,
      ...(await auditOf(b, `?cursor=ffffffff-ffff-7fff-bfff-ffffffffffff`)).data,
    ];
    expect(seenByB.length).toBeGreaterThan(0);
    for (const row of seenByB) expect(aIds.has(row.id)).toBe(false);
    expect(seenByB.every((r) => r.actor === b.userId || r.actor === null)).toBe(true);
  });

  it('pages newest first with limit and cursor, each row once', async () => {
    const a = await registerOrg(t.app, 'A');
    for (let i = 0; i < 5; i++) await createCustomer(t.app, a);
    const all = (await auditOf(a)).data;
    const paged: AuditRow[] = [];
    let cursor: string | null = null;
    do {
      const query: string = `?limit=2${cursor ? `&cursor=${cursor}` : ''}`;
      const page = await auditOf(a, query);
      expect(page.data.length).toBeLessThanOrEqual(2);
      paged.push(...page.data);
      cursor = page.nextCursor;
    } while (cursor);
    expect(paged.map((r) => r.id)).toEqual(all.map((r) => r.id));
    expect([...paged.map((r) => r.id)].sort().reverse()).toEqual(paged.map((r) => r.id));
  });
});
