import type { FastifyContextConfig } from 'fastify';
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import type { z } from 'zod';
import { tenantOf } from '../auth/guard.js';
import type { Tx } from '../db/client.js';
import { toPage } from '../http/pages.js';

type ZodApp = Parameters<FastifyPluginAsyncZod>[0];

/**
 * How a list reads: 'lane' shares a pipelined read lane (short indexed reads that name
 * their organization in the query), 'statement' takes a connection of its own (scans).
 */
export type ReadMode = 'lane' | 'statement';

export interface ListRouteDef<Q extends { limit: number }, T extends { id: string }> {
  /** The route's policy: access, API-key scope, limits (as on any route). */
  config: FastifyContextConfig;
  tags: string[];
  summary: string;
  querystring: z.ZodType<Q>;
  /** The page schema: `page(itemSchema)`. */
  response: z.ZodType;
  read: ReadMode | ((query: Q) => ReadMode);
  /** The keyset query: `limit + 1` rows after the cursor, in the caller's organization. */
  list: (tx: Tx, orgId: string, query: Q) => Promise<T[]>;
}

/**
 * A cursor-paged list of the caller's organization (CONTRACT section 2: `{data,
 * nextCursor}`). The route table still shows its policy and schemas; what every list
 * repeated (the tenant from the credential, the read, the page) is written once here.
 */
export function listRoute<Q extends { limit: number }, T extends { id: string }>(
  app: ZodApp,
  url: string,
  def: ListRouteDef<Q, T>,
): void {
  const { db } = app.ctx;
  app.get(
    url,
    {
      config: def.config,
      schema: {
        tags: def.tags,
        summary: def.summary,
        querystring: def.querystring,
        response: { 200: def.response },
      },
    },
    async (request) => {
      const { orgId } = tenantOf(request);
      const query = request.query as Q;
      const mode = typeof def.read === 'function' ? def.read(query) : def.read;
      const list = (tx: Tx) => def.list(tx, orgId, query);
      const rows = await (mode === 'lane'
        ? db.withOrgRead(orgId, list)
        : db.withOrgStatement(orgId, list));
      return toPage(rows, query.limit);
    },
  );
}
