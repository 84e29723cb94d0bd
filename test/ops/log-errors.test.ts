import { sql } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { safeError } from '../../src/infra/logger.js';
import { registerOrg, testApp, type TestApp } from '../helpers/app.js';

/** CONTRACT section 10: message bodies and personal data never reach the logs. */
let t: TestApp;
beforeAll(async () => {
  t = await testApp();
});
afterAll(() => t.close());

describe('errors in the log', () => {
  it("logs a failed query's PostgreSQL code, never its parameters", async () => {
    const owner = await registerOrg(t.app);
    const body = 'Hi, my card is 4111 1111 1111 1111, call +16315551181';
    const err: unknown = await t.db
      .withOrg(owner.orgId, (tx) => tx.execute(sql`select ${body}::int`))
      .catch((e: unknown) => e);
    expect(err).toBeInstanceOf(Error);
    // What a plain serializer would have written: the parameter is in there.
    expect(`${(err as Error).message} ${JSON.stringify(err)}`).toContain('4111');
    const line = JSON.stringify(safeError(err));
    expect(line).not.toContain('4111');
    expect(line).not.toContain('+1631555');
    expect(line).toContain('database query failed');
    expect(line).toContain('22P02');
  });
});
