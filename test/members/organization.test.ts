import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { organizations } from '../../src/db/schema.js';
import { registerOrg, type TestApp } from '../helpers/app.js';
import { addMember, expectProblem, membersApp } from './members.js';

let t: TestApp;
beforeAll(async () => {
  t = await membersApp();
});
afterAll(() => t.close());

const storedOrg = (orgId: string) =>
  t.db.withOrg(orgId, async (tx) => (await tx.select().from(organizations))[0]);

describe('organization settings', () => {
  it('shows every member their own organization and its MFA policy', async () => {
    const owner = await registerOrg(t.app, 'Acme');
    const viewer = await addMember(t.app, owner, 'viewer');
    const res = await t.app.inject({ url: '/api/v1/organization', headers: viewer.auth });
    expect(res.statusCode).toBe(200);
    const body = res.json<Record<string, unknown>>();
    expect(Object.keys(body).sort()).toEqual(['id', 'name', 'requireMfa', 'slug']);
    expect(body).toMatchObject({ id: owner.orgId, requireMfa: false });
  });

  it('lets an admin require MFA, and stores it', async () => {
    const owner = await registerOrg(t.app, 'Acme');
    const admin = await addMember(t.app, owner, 'admin');
    const res = await t.app.inject({
      method: 'PATCH',
      url: '/api/v1/organization',
      headers: admin.auth,
      payload: { requireMfa: true },
    });
    expect(res.statusCode, res.body).toBe(200);
    expect(res.json()).toMatchObject({ id: owner.orgId, requireMfa: true });
    // Read from the database: with the policy on, the guard may keep this owner (no MFA yet)
    // away from everything but enrollment.
    expect((await storedOrg(owner.orgId))?.requireMfa).toBe(true);
  });

  it('renames only the caller organization', async () => {
    const owner = await registerOrg(t.app, 'Acme');
    const other = await registerOrg(t.app, 'Other');
    const otherBefore = await storedOrg(other.orgId);
    const res = await t.app.inject({
      method: 'PATCH',
      url: '/api/v1/organization',
      headers: owner.auth,
      payload: { name: 'Acme Renamed' },
    });
    expect(res.json()).toMatchObject({ id: owner.orgId, name: 'Acme Renamed' });
    expect(await storedOrg(other.orgId)).toEqual(otherBefore);
  });

  it.each([
    { name: 'an empty body', payload: {} },
    { name: 'an empty name', payload: { name: '' } },
    { name: 'a string for requireMfa', payload: { requireMfa: 'true' } },
    { name: 'a 201-character name', payload: { name: 'a'.repeat(201) } },
  ])('answers 400 to $name', async ({ payload }) => {
    const owner = await registerOrg(t.app, 'Acme');
    const before = await storedOrg(owner.orgId);
    const res = await t.app.inject({
      method: 'PATCH',
      url: '/api/v1/organization',
      headers: owner.auth,
      payload,
    });
    expectProblem(res, 400, 'validation_failed');
    expect(await storedOrg(owner.orgId)).toEqual(before);
  });
});
