import type postgres from 'postgres';
import { SCOPE_SQL } from './database.js';
import { SingleConnection } from './connections.js';

type Params = postgres.ParameterOrJSON<never>[] | undefined;

export interface LaneGroup {
  /** The statement's pending query: drizzle awaits it (and reads its rows). */
  statement: ReturnType<postgres.Sql['unsafe']>;
  /** BEGIN, the scope and COMMIT: resolves when the transaction has ended. */
  done: Promise<unknown>;
}

/**
 * Single-statement tenant reads, pipelined across requests.
 *
 * A lane is one connection (see connections.ts). `read` queues BEGIN, the scope, the
 * statement and COMMIT on a lane in one synchronous call, so they leave in that order,
 * and transactions of many requests share a lane back to back: the socket carries them in
 * a few large writes instead of one small write and round trip each (per-request socket
 * writes were the largest cost of an authenticated read).
 *
 * The four can still be separated on the wire when a dropped connection is re-established
 * with part of the queue waiting, so lanes carry only reads, and each read must name its
 * organization itself (the organization id among its parameters, for its
 * `organization_id = $n`): a read that ended up outside its scope, or in another
 * organization's, then still finds only its own rows, or none. The login role is neither
 * superuser nor BYPASSRLS whenever lanes are on (postgres.ts), so unscoped means no rows.
 * A statement timeout keeps one slow read from holding up a lane for long.
 */
export class StatementLanes {
  private readonly lanes: { conn: SingleConnection; inFlight: number }[];

  constructor(url: string, count: number, statementTimeoutMs: number) {
    this.lanes = Array.from({ length: count }, () => ({
      conn: new SingleConnection(url, 'bastion-lane', statementTimeoutMs),
      inFlight: 0,
    }));
  }

  /** The lane with the fewest transactions in flight: a slow one is left to drain. */
  private pick() {
    let best = this.lanes[0]!;
    for (const lane of this.lanes) if (lane.inFlight < best.inFlight) best = lane;
    return best;
  }

  read(orgId: string, query: string, params: Params): LaneGroup {
    if (!/^select\s/i.test(query)) throw new Error('lanes carry only reads');
    if (!params?.includes(orgId)) {
      throw new Error('a lane read must filter by its organization id explicitly');
    }
    const lane = this.pick();
    const { sql } = lane.conn;
    lane.inFlight++;
    // One synchronous block: nothing can be queued on this lane between these four.
    const begin = sql`begin`.execute();
    const scope = sql.unsafe(SCOPE_SQL, [orgId], { prepare: true }).execute();
    const statement = sql.unsafe(query, params, { prepare: true }).execute();
    const commit = sql`commit`.execute();
    const done = Promise.all([begin, scope, commit]).finally(() => lane.inFlight--);
    done.catch(() => {}); // the caller awaits it; this only keeps an early failure handled
    return { statement, done };
  }

  shareParsers(from: postgres.Sql): void {
    for (const lane of this.lanes) lane.conn.shareParsers(from);
  }

  async close(): Promise<void> {
    await Promise.all(this.lanes.map((l) => l.conn.end()));
  }
}
