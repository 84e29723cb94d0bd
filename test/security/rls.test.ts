import { eq, sql } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { rows, type Tx } from '../../src/db/client.js';
import { uuidv7 } from '../../src/db/ids.js';
import { customers, organizations, refreshTokens, sessions, users } from '../../src/db/schema.js';
import { createCustomer, newPhone, registerOrg, testApp, type TestApp } from '../helpers/app.js';

let t: TestApp;
beforeAll(async () => {
  t = await testApp();
});
afterAll(() => t.close());

const TENANT_TABLES = ['organizations', 'users', 'sessions', 'refresh_tokens', 'customers'];

/** The PostgreSQL error code behind drizzle's wrapping (its `cause` chain). */
async function pgCodeOf(work: Promise<unknown>): Promise<string | undefined> {
  try {
    await work;
  } catch (err) {
    for (let e: unknown = err; e && typeof e === 'object'; e = (e as { cause?: unknown }).cause) {
      const code = (e as { code?: unknown }).code;
      if (typeof code === 'string' && /^[0-9A-Z]{5}$/.test(code)) return code;
    }
    return 'no pg code';
  }
  return undefined;
}

/** insufficient_privilege: what "new row violates row-level security policy" raises. */
const RLS_VIOLATION = '42501';

/** Two organizations with customers each, made through the HTTP API. */
async function twoTenants() {
  const a = await registerOrg(t.app, 'A');
  const b = await registerOrg(t.app, 'B');
  const aRows = [await createCustomer(t.app, a), await createCustomer(t.app, a)];
  const bRows = [await createCustomer(t.app, b, { name: 'B secret', notes: 'keep' })];
  return { a, b, aRows, bRows };
}

describe('row-level security', () => {
  it('confines a query without WHERE to the organization of the transaction', async () => {
    const { a, b, aRows, bRows } = await twoTenants();

    const seenByA = await t.db.withOrg(a.orgId, (tx) => tx.select().from(customers));
    expect(seenByA.map((r) => r.id).sort()).toEqual(aRows.map((r) => r.id).sort());
    expect(seenByA.every((r) => r.organizationId === a.orgId)).toBe(true);

    const seenByB = await t.db.withOrg(b.orgId, (tx) => tx.select().from(customers));
    expect(seenByB.map((r) => r.id)).toEqual(bRows.map((r) => r.id));
  });

  it.each([
    {
      table: 'organizations',
      orgIds: async (tx: Tx) => (await tx.select().from(organizations)).map((r) => r.id),
    },
    {
      table: 'users',
      orgIds: async (tx: Tx) => (await tx.select().from(users)).map((r) => r.organizationId),
    },
    {
      table: 'sessions',
      orgIds: async (tx: Tx) => (await tx.select().from(sessions)).map((r) => r.organizationId),
    },
    {
      table: 'refresh_tokens',
      orgIds: async (tx: Tx) =>
        (await tx.select().from(refreshTokens)).map((r) => r.organizationId),
    },
  ])("hides another organization's $table rows from a query without WHERE", async ({ orgIds }) => {
    const { a, b } = await twoTenants();
    const seen = await t.db.withOrg(a.orgId, orgIds);
    expect(seen.length).toBeGreaterThan(0);
    expect(new Set(seen)).toEqual(new Set([a.orgId]));
    expect(seen).not.toContain(b.orgId);
  });

  it('refuses to insert a row into another organization (WITH CHECK)', async () => {
    const { a, b } = await twoTenants();
    const id = uuidv7();
    const code = await pgCodeOf(
      t.db.withOrg(a.orgId, (tx) =>
        tx.insert(customers).values({
          id,
          organizationId: b.orgId,
          name: 'Planted',
          phone: newPhone(),
        }),
      ),
    );
    expect(code).toBe(RLS_VIOLATION);

    const inB = await t.db.withOrg(b.orgId, (tx) =>
      tx.select().from(customers).where(eq(customers.id, id)),
    );
    expect(inB).toEqual([]);
  });

  it('refuses to move an own row into another organization (WITH CHECK on UPDATE)', async () => {
    const { a, b, aRows } = await twoTenants();
    const target = aRows[0]!.id;
    const code = await pgCodeOf(
      t.db.withOrg(a.orgId, (tx) =>
        tx.update(customers).set({ organizationId: b.orgId }).where(eq(customers.id, target)),
      ),
    );
    expect(code).toBe(RLS_VIOLATION);
    const still = await t.db.withOrg(a.orgId, (tx) =>
      tx.select().from(customers).where(eq(customers.id, target)),
    );
    expect(still).toHaveLength(1);
  });

  it.each([
    {
      attack: 'updates',
      run: (tx: Tx, id: string) =>
        tx
          .update(customers)
          .set({ name: 'Hijacked', notes: null })
          .where(eq(customers.id, id))
          .returning({ id: customers.id }),
    },
    {
      attack: 'deletes',
      run: (tx: Tx, id: string) =>
        tx.delete(customers).where(eq(customers.id, id)).returning({ id: customers.id }),
    },
  ])("$attack nothing when aiming at another organization's row by id", async ({ run }) => {
    const { a, b, bRows } = await twoTenants();
    const victim = bRows[0]!.id;
    const [before] = await t.db.withOrg(b.orgId, (tx) =>
      tx.select().from(customers).where(eq(customers.id, victim)),
    );

    const affected = await t.db.withOrg(a.orgId, (tx) => run(tx, victim));
    expect(affected).toEqual([]);

    const [after] = await t.db.withOrg(b.orgId, (tx) =>
      tx.select().from(customers).where(eq(customers.id, victim)),
    );
    expect(after).toEqual(before);
    expect(after).toMatchObject({ name: 'B secret', notes: 'keep' });
  });

  it.each(TENANT_TABLES)('shows no %s rows outside an organization (withoutOrg)', async (table) => {
    const { a } = await twoTenants();
    const count = sql`select count(*)::int as n from ${sql.identifier(table)}`;
    expect(await t.db.withoutOrg((tx) => rows<{ n: number }>(tx, count))).toEqual([{ n: 0 }]);
    // Control: inside an organization the same query does see rows.
    const [own] = await t.db.withOrg(a.orgId, (tx) => rows<{ n: number }>(tx, count));
    expect(own!.n).toBeGreaterThan(0);
  });

  it('runs requests as bastion_app, which is neither superuser nor BYPASSRLS', async () => {
    const { a } = await twoTenants();
    const [me] = await t.db.withOrg(a.orgId, (tx) =>
      rows<{ user: string; superuser: boolean; bypass: boolean }>(
        tx,
        sql`select current_user as "user", r.rolsuper as superuser, r.rolbypassrls as bypass
            from pg_roles r where r.rolname = current_user`,
      ),
    );
    expect(me).toEqual({ user: 'bastion_app', superuser: false, bypass: false });

    const [outside] = await t.db.withoutOrg((tx) =>
      rows<{ user: string }>(tx, sql`select current_user as "user"`),
    );
    expect(outside).toEqual({ user: 'bastion_app' });
  });

  it.each(TENANT_TABLES)('enables and forces row-level security on %s', async (table) => {
    const { a } = await twoTenants();
    const found = await t.db.withOrg(a.orgId, (tx) =>
      rows<{ rls: boolean; force: boolean }>(
        tx,
        sql`select c.relrowsecurity as rls, c.relforcerowsecurity as force
            from pg_class c
            where c.relname = ${table} and c.relnamespace = 'public'::regnamespace
              and c.relkind = 'r'`,
      ),
    );
    expect(found).toEqual([{ rls: true, force: true }]);
  });

  it.runIf(!!process.env.DATABASE_URL)(
    'logs in to PostgreSQL as a role that is neither superuser nor BYPASSRLS',
    async () => {
      expect(t.db.kind).toBe('postgres');
      const role = await t.db.loginRole();
      expect(role.superuser).toBe(false);
      expect(role.bypassRls).toBe(false);
    },
  );

  it.each(['auth_user_by_email(text)', 'auth_session_by_refresh_hash(bytea)'])(
    'does not let PUBLIC execute the SECURITY DEFINER function %s',
    async (signature) => {
      const { a } = await twoTenants();
      const [fn] = await t.db.withOrg(a.orgId, (tx) =>
        rows<{
          definer: boolean;
          acl: string | null;
          public_exec: boolean;
          monitor_exec: boolean;
          app_exec: boolean;
        }>(
          tx,
          sql`select p.prosecdef as definer,
                     p.proacl::text as acl,
                     exists (
                       select 1 from aclexplode(coalesce(p.proacl, acldefault('f', p.proowner))) x
                       where x.grantee = 0 and x.privilege_type = 'EXECUTE'
                     ) as public_exec,
                     has_function_privilege('pg_monitor', p.oid, 'EXECUTE') as monitor_exec,
                     has_function_privilege('bastion_app', p.oid, 'EXECUTE') as app_exec
              from pg_proc p
              where p.oid = ${signature}::regprocedure`,
        ),
      );
      expect(fn).toBeDefined();
      expect(fn!.definer).toBe(true);
      // A NULL acl means the default, which lets PUBLIC execute a function.
      expect(fn!.acl).not.toBeNull();
      expect(fn!.public_exec).toBe(false);
      expect(fn!.monitor_exec).toBe(false);
      // Control: the application role keeps its grant (otherwise sign-in could not work).
      expect(fn!.app_exec).toBe(true);
    },
  );
});
