import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createCustomer, registerOrg, testApp, type TestApp } from '../helpers/app.js';

/** CONTRACT section 10: /health, /ready, /metrics. */

const UUID_ANYWHERE = /[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}/i;

describe('health and readiness', () => {
  let t: TestApp;
  beforeAll(async () => {
    t = await testApp();
  });
  afterAll(() => t.close());

  it('GET /health answers 200 {status: "ok"}', async () => {
    const res = await t.app.inject({ url: '/health' });
    expect(res.statusCode).toBe(200);
    expect(res.headers['content-type']).toMatch(/^application\/json/);
    expect(res.json()).toEqual({ status: 'ok' });
  });

  it('GET /ready answers 200 while the database answers', async () => {
    const res = await t.app.inject({ url: '/ready' });
    expect(res.statusCode, res.body).toBe(200);
  });

  it.each(['/health', '/ready'])('%s needs no credential and ignores a bad one', async (url) => {
    const res = await t.app.inject({ url, headers: { authorization: 'Bearer nonsense' } });
    expect(res.statusCode).toBe(200);
  });
});

describe('readiness with the database gone', () => {
  let t: TestApp;
  beforeAll(async () => {
    t = await testApp();
  });
  // The database is already closed by the test; closing it twice may throw.
  afterAll(() => t.close().catch(() => {}));

  it('GET /ready answers 503 once the database stops answering, without leaking why', async () => {
    expect((await t.app.inject({ url: '/ready' })).statusCode).toBe(200);
    await t.db.close();
    const started = Date.now();
    const res = await t.app.inject({ url: '/ready' });
    expect(res.statusCode, res.body).toBe(503);
    expect(Date.now() - started).toBeLessThan(5_000);
    expect(res.body).not.toMatch(/postgres|pglite|drizzle|closed|ended|\bat \//i);
    // Liveness is not readiness: the process itself is fine.
    expect((await t.app.inject({ url: '/health' })).statusCode).toBe(200);
  });

  it('answers that 503 as a problem with code unavailable (CONTRACT section 2)', async () => {
    await t.db.close().catch(() => {});
    const res = await t.app.inject({ url: '/ready', headers: { 'x-request-id': 'ready-1' } });
    expect(res.statusCode).toBe(503);
    expect(res.headers['content-type']).toMatch(/^application\/problem\+json/);
    expect(res.json()).toMatchObject({ status: 503, code: 'unavailable', requestId: 'ready-1' });
  });
});

describe('/metrics', () => {
  let t: TestApp;
  beforeAll(async () => {
    t = await testApp();
  });
  afterAll(() => t.close());

  it('serves Prometheus text with route templates, never raw ids, and process metrics', async () => {
    const owner = await registerOrg(t.app, 'Metrics');
    const customer = await createCustomer(t.app, owner);
    expect(
      (await t.app.inject({ url: `/api/v1/customers/${customer.id}`, headers: owner.auth }))
        .statusCode,
    ).toBe(200);
    // An id that matches no row, and an id on a route that does not exist.
    await t.app.inject({ url: `/api/v1/customers/${randomUUID()}`, headers: owner.auth });
    await t.app.inject({ url: `/api/v1/nothing/${randomUUID()}` });
    await t.app.inject({ url: `/${randomUUID()}?q=${randomUUID()}` });

    const res = await t.app.inject({ url: '/metrics' });
    expect(res.statusCode).toBe(200);
    expect(res.headers['content-type']).toMatch(/^text\/plain/);
    const text = res.body;
    const buckets = text
      .split('\n')
      .filter((l) => l.startsWith('http_request_duration_seconds_bucket{'));
    expect(buckets.length).toBeGreaterThan(0);
    expect(
      buckets.some((l) => l.includes('route="/api/v1/customers/:id"') && l.includes('"GET"')),
    ).toBe(true);
    expect(text).toMatch(/^process_cpu\w*/m);
    for (const line of text.split('\n')) {
      expect(UUID_ANYWHERE.test(line), `a raw id in a metric: ${line}`).toBe(false);
    }
  });
});

describe('/metrics behind METRICS_TOKEN', () => {
  const token = 'm'.repeat(32);
  let t: TestApp;
  beforeAll(async () => {
    t = await testApp({ METRICS_TOKEN: token });
  });
  afterAll(() => t.close());

  it.each([
    ['no Authorization header', undefined],
    ['a wrong bearer token', `Bearer ${'x'.repeat(32)}`],
    ['a prefix of the token', `Bearer ${token.slice(0, 31)}`],
    ['the token with one byte more', `Bearer ${token}m`],
    ['the token without the Bearer scheme', token],
    ['the token as Basic credentials', `Basic ${Buffer.from(`x:${token}`).toString('base64')}`],
    ['an empty bearer', 'Bearer '],
  ])('refuses %s with 401', async (_what, authorization) => {
    const res = await t.app.inject({
      url: '/metrics',
      headers: authorization === undefined ? {} : { authorization },
    });
    expect(res.statusCode).toBe(401);
    expect(res.headers['content-type']).toMatch(/^application\/problem\+json/);
    expect(res.json()).toMatchObject({ status: 401, code: 'unauthorized' });
    expect(res.body).not.toContain('http_request_duration_seconds');
  });

  it('serves the metrics with the right bearer token', async () => {
    const res = await t.app.inject({
      url: '/metrics',
      headers: { authorization: `Bearer ${token}` },
    });
    expect(res.statusCode).toBe(200);
    expect(res.body).toMatch(/^process_cpu/m);
  });

  it('does not put the token anywhere else (health and ready stay open)', async () => {
    expect((await t.app.inject({ url: '/health' })).statusCode).toBe(200);
    expect((await t.app.inject({ url: '/ready' })).statusCode).toBe(200);
  });
});
