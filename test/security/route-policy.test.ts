import { afterAll, beforeAll, expect, it } from 'vitest';
import { formatRoutePolicy } from '../../src/auth/route-policy.js';
import { testApp, type TestApp } from '../helpers/app.js';

/**
 * The route table as a security policy: every route's access, API-key scope, extra rate
 * limit and MFA exemption, in one reviewed file. A change to any route's policy (or a new
 * route) fails this test until the snapshot is updated (`npx vitest -u`), so it shows up
 * in review as a diff of route-policy.txt.
 */
let t: TestApp;
beforeAll(async () => {
  t = await testApp();
});
afterAll(() => t.close());

it('matches the reviewed route policy', async () => {
  await expect(formatRoutePolicy(t.app.routePolicy)).toMatchFileSnapshot(
    './__snapshots__/route-policy.txt',
  );
});

it('leaves no /api route without a declared access policy', () => {
  const undeclared = t.app.routePolicy.filter((r) => r.url.startsWith('/api/') && r.access === '-');
  expect(undeclared).toEqual([]);
});

it('lets API keys reach only routes that name a scope, and never identity or admin routes', () => {
  const scoped = t.app.routePolicy.filter((r) => r.scope !== '-');
  for (const r of scoped) {
    expect(r.url).toMatch(/^\/api\/v1\/(customers|conversations|deals|tickets|attachments)/);
  }
});
