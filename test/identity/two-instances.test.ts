import { randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { registerOrg, testApp } from '../helpers/app.js';
import { me } from './helpers.js';

// Two servers on one PostgreSQL and one Redis, as behind a load balancer.
describe.runIf(!!process.env.DATABASE_URL && !!process.env.REDIS_URL)(
  'revocation across instances',
  () => {
    it.each([
      ['logout', 'POST', '/api/v1/auth/logout'],
      ['sign out everywhere', 'POST', '/api/v1/auth/logout-all'],
    ] as const)(
      'a %s on instance A kills the token on instance B at once, despite B’s cache',
      async (_, method, url) => {
        const shared = { JWT_SECRET: randomBytes(32).toString('base64url') };
        const a = await testApp(shared);
        const b = await testApp(shared);
        try {
          const m = await registerOrg(a.app);
          expect((await me(b.app, m.auth)).statusCode).toBe(200); // B now caches the session as live
          expect((await me(b.app, m.auth)).statusCode).toBe(200);
          const out = await a.app.inject({ method, url, headers: m.auth });
          expect(out.statusCode).toBeLessThan(300);
          // Pub/sub delivery is asynchronous; "at once" here means well inside the cache's 5 s.
          let status = 0;
          for (let i = 0; i < 20 && status !== 401; i++) {
            status = (await me(b.app, m.auth)).statusCode;
            if (status !== 401) await new Promise((r) => setTimeout(r, 25));
          }
          expect(status).toBe(401);
        } finally {
          await a.close();
          await b.close();
        }
      },
    );
  },
);
