import type { FastifyInstance } from 'fastify';

/** One route's security policy, as its route table declares it. */
export interface RoutePolicy {
  method: string;
  url: string;
  /** 'public', a minimum role, or '-' for routes outside the guard (they check otherwise). */
  access: string;
  /** The scope an API key needs; '-' where API keys are refused. */
  scope: string;
  /** The limit counted besides the general one ('-': the general one only). */
  rateLimit: string;
  allowWithoutMfa: boolean;
}

declare module 'fastify' {
  interface FastifyInstance {
    /** Every route's policy, collected as routes are added (see route-policy.test.ts). */
    routePolicy: readonly RoutePolicy[];
  }
}

/**
 * Collects the policy of every route the app registers, so the whole surface reads as one
 * table and a policy change shows as a one-line diff in review (the snapshot test). Call
 * before any route is registered.
 */
export function collectRoutePolicy(app: FastifyInstance): void {
  const rows: RoutePolicy[] = [];
  app.decorate('routePolicy', rows);
  app.addHook('onRoute', (route) => {
    const methods = Array.isArray(route.method) ? route.method : [route.method];
    const config = route.config ?? {};
    for (const method of methods) {
      // Fastify adds HEAD beside every GET, with the same policy.
      if (method === 'HEAD') continue;
      rows.push({
        method,
        url: route.url,
        access: config.access ?? '-',
        scope: config.scope ?? '-',
        rateLimit: config.rateLimit?.bucket ?? '-',
        allowWithoutMfa: config.allowWithoutMfa === true,
      });
    }
  });
}

/** The policy as an aligned text table, sorted by path then method. */
export function formatRoutePolicy(rows: readonly RoutePolicy[]): string {
  const sorted = [...rows].sort(
    (a, b) => a.url.localeCompare(b.url) || a.method.localeCompare(b.method),
  );
  const cells = sorted.map((r) => [
    r.method,
    r.url,
    r.access,
    r.scope,
    r.rateLimit,
    r.allowWithoutMfa ? 'without-mfa' : '-',
  ]);
  const header = ['method', 'url', 'access', 'scope', 'limit', 'mfa'];
  const widths = header.map((h, i) => Math.max(h.length, ...cells.map((c) => c[i]!.length)));
  const line = (c: string[]) =>
    c
      .map((v, i) => v.padEnd(widths[i]!))
      .join('  ')
      .trimEnd();
  return [line(header), ...cells.map(line)].join('\n') + '\n';
}
