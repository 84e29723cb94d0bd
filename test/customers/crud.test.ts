import type { LightMyRequestResponse } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createCustomer, newPhone, registerOrg, testApp, type TestApp } from '../helpers/app.js';

let t: TestApp;
beforeAll(async () => {
  t = await testApp();
});
afterAll(() => t.close());

describe('customers', () => {
  it('creates, reads, updates and deletes a customer', async () => {
    const owner = await registerOrg(t.app);
    const phone = newPhone();
    const created = await t.app.inject({
      method: 'POST',
      url: '/api/v1/customers',
      headers: owner.auth,
      payload: {
        name: 'Ada Lovelace',
        phone,
        email: 'Ada@Example.test',
        tags: ['vip'],
        notes: 'first',
      },
    });
    expect(created.statusCode).toBe(201);
    const c = created.json();
    expect(c).toMatchObject({
      name: 'Ada Lovelace',
      phone,
      email: 'ada@example.test',
      tags: ['vip'],
      notes: 'first',
    });
    expect(c).not.toHaveProperty('organizationId');

    const got = await t.app.inject({ url: `/api/v1/customers/${c.id}`, headers: owner.auth });
    expect(got.statusCode).toBe(200);
    expect(got.json()).toEqual(c);

    const patched = await t.app.inject({
      method: 'PATCH',
      url: `/api/v1/customers/${c.id}`,
      headers: owner.auth,
      payload: { notes: null, tags: [] },
    });
    expect(patched.statusCode).toBe(200);
    expect(patched.json()).toMatchObject({ id: c.id, notes: null, tags: [], name: 'Ada Lovelace' });

    const del = await t.app.inject({
      method: 'DELETE',
      url: `/api/v1/customers/${c.id}`,
      headers: owner.auth,
    });
    expect(del.statusCode).toBe(204);
    const gone = await t.app.inject({ url: `/api/v1/customers/${c.id}`, headers: owner.auth });
    expect(gone.statusCode).toBe(404);
    expect(gone.json()).toMatchObject({ code: 'not_found', status: 404 });
  });

  it('answers 409 for a phone number already used in the organization, but not across organizations', async () => {
    const a = await registerOrg(t.app);
    const b = await registerOrg(t.app);
    const phone = newPhone();
    await createCustomer(t.app, a, { phone });
    const dup = await t.app.inject({
      method: 'POST',
      url: '/api/v1/customers',
      headers: a.auth,
      payload: { name: 'Twin', phone },
    });
    expect(dup.statusCode).toBe(409);
    expect(dup.headers['content-type']).toMatch(/^application\/problem\+json/);
    expect(dup.json()).toMatchObject({ code: 'conflict' });
    await expect(createCustomer(t.app, b, { phone })).resolves.toMatchObject({ phone });

    const other = await createCustomer(t.app, a);
    const patchDup = await t.app.inject({
      method: 'PATCH',
      url: `/api/v1/customers/${other.id}`,
      headers: a.auth,
      payload: { phone },
    });
    expect(patchDup.statusCode).toBe(409);
  });

  it('pages through the list with a cursor, newest first, without repeats', async () => {
    const owner = await registerOrg(t.app);
    const ids: string[] = [];
    for (let i = 0; i < 7; i++)
      ids.push((await createCustomer(t.app, owner, { name: `P${i}` })).id);
    const seen: string[] = [];
    let cursor: string | null = null;
    do {
      const res: LightMyRequestResponse = await t.app.inject({
        url: `/api/v1/customers?limit=3${cursor ? `&cursor=${cursor}` : ''}`,
        headers: owner.auth,
      });
      expect(res.statusCode).toBe(200);
      const body = res.json<{ data: { id: string }[]; nextCursor: string | null }>();
      expect(body.data.length).toBeLessThanOrEqual(3);
      seen.push(...body.data.map((c) => c.id));
      cursor = body.nextCursor;
    } while (cursor);
    expect(seen).toEqual([...ids].reverse());
  });

  it('searches by name, phone and email, treating % and _ literally', async () => {
    const owner = await registerOrg(t.app);
    const grace = await createCustomer(t.app, owner, {
      name: 'Grace Hopper',
      email: 'grace@navy.test',
    });
    await createCustomer(t.app, owner, { name: 'Alan Turing' });
    const search = async (q: string) => {
      const res = await t.app.inject({
        url: `/api/v1/customers?search=${encodeURIComponent(q)}`,
        headers: owner.auth,
      });
      expect(res.statusCode).toBe(200);
      return res.json<{ data: { id: string }[] }>().data.map((c) => c.id);
    };
    expect(await search('hopper')).toEqual([grace.id]);
    expect(await search('navy.test')).toEqual([grace.id]);
    expect(await search(grace.phone.slice(-6))).toEqual([grace.id]);
    expect(await search('%')).toEqual([]);
    expect(await search('_')).toEqual([]);
  });
});
