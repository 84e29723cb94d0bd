import { sql } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AuditLog } from '../../src/audit/log.js';
import { rows, type Tx } from '../../src/db/client.js';
import { uuidv7 } from '../../src/db/ids.js';
import { createCustomer, newPhone, registerOrg, type TestApp } from '../helpers/app.js';
import { auditApp, bareOrg, chainOf, pgCodeOf, PERMISSION_DENIED } from './helpers.js';

/** Issue 3 item 8, CONTRACT section 10: the audit log is append-only at the database. */

let t: TestApp;
let audit: AuditLog;
beforeAll(async () => {
  t = await auditApp();
  audit = new AuditLog(t.db);
});
afterAll(() => t.close());

const record = (orgId: string, action = 'test.happened', metadata: Record<string, unknown> = {}) =>
  t.db.withOrg(orgId, (tx) => audit.record(tx, { orgId, actorId: null, action, metadata }));

describe('the application role cannot rewrite history', () => {
  const attacks: [string, (tx: Tx, orgId: string, other: string) => Promise<unknown>][] = [
    ['updates an audit row', (tx) => tx.execute(sql`update audit_logs set action = 'x.y'`)],
    ['deletes an audit row', (tx) => tx.execute(sql`delete from audit_logs`)],
    ['truncates the audit log', (tx) => tx.execute(sql`truncate audit_logs`)],
    ['moves its chain head back', (tx) => tx.execute(sql`update audit_chain_heads set seq = 0`)],
    ['deletes its chain head', (tx) => tx.execute(sql`delete from audit_chain_heads`)],
    [
      'disables the chain trigger',
      (tx) => tx.execute(sql`alter table audit_logs disable trigger all`),
    ],
    ['drops the audit log', (tx) => tx.execute(sql`drop table audit_logs`)],
    ['updates a security event', (tx) => tx.execute(sql`update security_events set type = 'x'`)],
    ['deletes security events', (tx) => tx.execute(sql`delete from security_events`)],
    [
      'inserts a security event around the recording function',
      (tx, orgId) =>
        tx.execute(sql`insert into security_events (id, organization_id, type)
                       values (${uuidv7()}::uuid, ${orgId}::uuid, 'login_failed')`),
    ],
    [
      "appends to another organization's chain",
      (tx, _orgId, other) =>
        tx.execute(sql`insert into audit_logs (id, organization_id, action)
                       values (${uuidv7()}::uuid, ${other}::uuid, 'x.y')`),
    ],
  ];

  it.each(attacks)('refuses when the app role %s', async (_name, attack) => {
    const [orgId, other] = [await bareOrg(t.db), await bareOrg(t.db)];
    await record(orgId, 'test.first');
    await record(other, 'test.first');
    const before = [await chainOf(t.db, orgId), await chainOf(t.db, other)];
    const attempt = t.db.withOrg(orgId, (tx) => attack(tx, orgId, other));
    expect(await pgCodeOf(attempt)).toBe(PERMISSION_DENIED);
    expect([await chainOf(t.db, orgId), await chainOf(t.db, other)]).toEqual(before);
  });

  it('ignores a forged seq, time and hash: the database places the row in the chain', async () => {
    const orgId = await bareOrg(t.db);
    await record(orgId, 'test.first');
    const forged = 'ff'.repeat(32);
    await t.db.withOrg(orgId, (tx) =>
      tx.execute(sql`insert into audit_logs (id, organization_id, action, seq, at, prev_hash, hash)
        values (${uuidv7()}::uuid, ${orgId}::uuid, 'test.forged', 99, '2000-01-01',
                decode(${forged}, 'hex'), decode(${forged}, 'hex'))`),
    );
    const [first, second] = await chainOf(t.db, orgId);
    expect(second).toMatchObject({ seq: 2, action: 'test.forged', prev_hash: first!.hash });
    expect(second!.hash).not.toBe(forged);
    const [at] = await t.db.withOrg(orgId, (tx) =>
      rows<{ year: number }>(
        tx,
        sql`select extract(year from max(at))::int as year from audit_logs
        where organization_id = ${orgId}::uuid`,
      ),
    );
    expect(at!.year).toBeGreaterThan(2000);
  });
});

describe('the SECURITY DEFINER functions', () => {
  it.each([
    'record_security_event(uuid,uuid,text,uuid,text,text,text,jsonb)',
    'audit_logs_chain()',
  ])('does not let PUBLIC execute %s', async (signature) => {
    const orgId = await bareOrg(t.db);
    const [fn] = await t.db.withOrg(orgId, (tx) =>
      rows<{ definer: boolean; public_exec: boolean }>(
        tx,
        sql`select p.prosecdef as definer,
                     exists (
                       select 1 from aclexplode(coalesce(p.proacl, acldefault('f', p.proowner))) x
                       where x.grantee = 0 and x.privilege_type = 'EXECUTE'
                     ) as public_exec
              from pg_proc p where p.oid = ${signature}::regprocedure`,
      ),
    );
    expect(fn).toEqual({ definer: true, public_exec: false });
  });
});

describe('the hash chain', () => {
  it('links each row to the one before, starting from 32 zero bytes', async () => {
    const orgId = await bareOrg(t.db);
    for (const action of ['test.a', 'test.b', 'test.c']) await record(orgId, action);
    const chain = await chainOf(t.db, orgId);
    expect(chain.map((r) => r.seq)).toEqual([1, 2, 3]);
    expect(chain[0]!.prev_hash).toBe('00'.repeat(32));
    expect(chain[1]!.prev_hash).toBe(chain[0]!.hash);
    expect(chain[2]!.prev_hash).toBe(chain[1]!.hash);
  });

  it('keeps one chain per organization under 20 concurrent writes in each of two', async () => {
    const a = await registerOrg(t.app, 'A');
    const b = await registerOrg(t.app, 'B');
    await Promise.all(
      Array.from({ length: 20 }, (_, i) => [
        createCustomer(t.app, a, { name: `A${i}` }),
        createCustomer(t.app, b, { name: `B${i}` }),
      ]).flat(),
    );
    for (const org of [a, b]) {
      const chain = await chainOf(t.db, org.orgId);
      const created = chain.filter((r) => r.action === 'customer.created');
      expect(created).toHaveLength(20);
      expect(chain.map((r) => r.seq)).toEqual(chain.map((_, i) => i + 1));
      chain.slice(1).forEach((row, i) => expect(row.prev_hash).toBe(chain[i]!.hash));
    }
  });

  it('commits a change and its audit row together: a failed append undoes the change', async () => {
    const a = await registerOrg(t.app, 'A');
    const phone = newPhone();
    const write = t.db.withOrg(a.orgId, async (tx) => {
      await tx.execute(sql`insert into customers (id, organization_id, name, phone)
        values (${uuidv7()}::uuid, ${a.orgId}::uuid, 'Ghost', ${phone})`);
      // A target id over the column's limit cannot be stored: the append fails.
      await tx.execute(sql`insert into audit_logs (id, organization_id, action, target_id)
        values (${uuidv7()}::uuid, ${a.orgId}::uuid, 'customer.created', ${'x'.repeat(500)})`);
    });
    await expect(write).rejects.toThrow();
    const found = await t.db.withOrg(a.orgId, (tx) =>
      rows(tx, sql`select 1 from customers where phone = ${phone}`),
    );
    expect(found).toEqual([]);
  });
});

describe('secrets never reach the log', () => {
  it.each([
    ['password', { password: 'hunter2-hunter2-hunter2' }],
    ['newPassword', { newPassword: 'p' }],
    ['refresh token', { refreshToken: 'r' }],
    ['access_token', { access_token: 'a' }],
    ['TOTP code', { code: '123456' }],
    ['recovery codes', { recoveryCodes: ['a', 'b'] }],
    ['api key', { apiKey: 'bsk_x' }],
    ['app secret', { appSecret: 's' }],
    ['nested secret', { channel: { name: 'ok', verifyToken: 'v' } }],
    ['secret inside a list', { changes: [{ field: 'x', privateKey: 'k' }] }],
  ])('strips a %s from metadata', async (_name, metadata) => {
    const orgId = await bareOrg(t.db);
    await record(orgId, 'test.secret', { ...metadata, kept: 'yes' });
    const [row] = await chainOf(t.db, orgId);
    const text = JSON.stringify(row!.metadata);
    expect(row!.metadata.kept).toBe('yes');
    expect(text).not.toMatch(/password|token|secret|code|key/i);
    for (const v of ['hunter2', 'bsk_x', '123456', '"s"', '"k"', '"v"'])
      expect(text).not.toContain(v);
  });

  it('stores text PostgreSQL would refuse (NUL, lone surrogates) without failing the change', async () => {
    const orgId = await bareOrg(t.db);
    await record(orgId, 'test.text', { note: 'a\u0000b\uD800c', '\u0000k': 1 });
    const [row] = await chainOf(t.db, orgId);
    expect(row!.metadata).toEqual({ note: 'ab\uFFFDc', k: 1 });
  });
});
