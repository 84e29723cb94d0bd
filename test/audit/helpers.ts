import { sql } from 'drizzle-orm';
import { randomUUID } from 'node:crypto';
import { hashPassword } from '../../src/auth/passwords.js';
import { rows, type Database } from '../../src/db/client.js';
import { uuidv7 } from '../../src/db/ids.js';
import { users, type Role } from '../../src/db/schema.js';
import { PASSWORD, testApp, type Member, type TestApp } from '../helpers/app.js';

/** Many sign-ins from one address: the per-IP limits are not these tests' subject. */
export const auditApp = (): Promise<TestApp> =>
  testApp({ RATE_LIMIT_AUTH_IP_MAX: '100000', RATE_LIMIT_MAX: '100000' });

/** The PostgreSQL error code behind drizzle's wrapping (its `cause` chain); undefined if none. */
export async function pgCodeOf(work: Promise<unknown>): Promise<string | undefined> {
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

/** insufficient_privilege: a missing grant, or a row-level security refusal. */
export const PERMISSION_DENIED = '42501';

/** A member of `orgId` with `role`, inserted directly (not through the members API), signed in. */
export async function memberWithRole(
  t: TestApp,
  orgId: string,
  role: Role,
): Promise<Member & { role: Role }> {
  const email = `${role}-${randomUUID()}@example.test`;
  const passwordHash = await hashPassword(PASSWORD);
  await t.db.withOrg(orgId, (tx) =>
    tx.insert(users).values({
      id: uuidv7(),
      organizationId: orgId,
      email,
      name: `A ${role}`,
      role,
      passwordHash,
    }),
  );
  const res = await t.app.inject({
    method: 'POST',
    url: '/api/v1/auth/login',
    headers: { 'x-auth-mode': 'token' },
    payload: { email, password: PASSWORD },
  });
  if (res.statusCode !== 200) throw new Error(`login failed: ${res.statusCode} ${res.body}`);
  const body = res.json<{ accessToken: string; refreshToken: string; user: { id: string } }>();
  return {
    token: body.accessToken,
    refreshToken: body.refreshToken,
    userId: body.user.id,
    orgId,
    email,
    role,
    auth: { authorization: `Bearer ${body.accessToken}` },
  };
}

export interface ChainRow {
  id: string;
  seq: number;
  action: string;
  actor_id: string | null;
  metadata: Record<string, unknown>;
  prev_hash: string;
  hash: string;
}

/** One organization's audit rows in chain order, read as that organization. */
export function chainOf(db: Database, orgId: string): Promise<ChainRow[]> {
  return db.withOrg(orgId, (tx) =>
    rows<ChainRow>(
      tx,
      sql`select id::text, seq::int as seq, action, actor_id::text, metadata,
                 encode(prev_hash, 'hex') as prev_hash, encode(hash, 'hex') as hash
          from audit_logs where organization_id = ${orgId}::uuid order by seq`,
    ),
  );
}

/** An organization made straight in the database, for tests that need no HTTP. */
export async function bareOrg(db: Database): Promise<string> {
  const id = uuidv7();
  await db.withOrg(id, (tx) =>
    tx.execute(
      sql`insert into organizations (id, name, slug) values (${id}::uuid, 'Org', ${`org-${id}`})`,
    ),
  );
  return id;
}
