import postgres from 'postgres';
import { SCOPE_SQL } from './client.js';

type Params = postgres.ParameterOrJSON<never>[] | undefined;

export interface LaneGroup {
  /** The statement's pending query: drizzle awaits it (and reads its rows). */
  statement: ReturnType<postgres.Sql['unsafe']>;
  /** BEGIN, the scope and COMMIT: resolves when the transaction has ended. */
  done: Promise<unknown>;
}

/**
 * Single-statement tenant transactions, pipelined across requests.
 *
 * A lane is a client with exactly one connection. `send` writes BEGIN, the scope, the
 * statement and COMMIT to a lane in one synchronous call: postgres.js hands a client's
 * queries to its one connection strictly in call order, so the four are contiguous on the
 * wire and no other transaction's statement can fall between them. Transactions of many
 * requests then share a lane back to back, and the socket carries them in a few large
 * writes instead of one small write and round trip each; per-request socket writes were
 * the largest cost of an authenticated read.
 *
 * Failure stays closed: an error in one transaction aborts only that transaction (its COMMIT
 * becomes a rollback, the next BEGIN starts clean); and if a connection drops between the
 * statements of a group, the ones sent after reconnecting run as the login role with no
 * organization set, where row-level security shows and accepts nothing. That is why lanes
 * are only used when the login role is neither superuser nor BYPASSRLS (see postgres.ts).
 * A statement timeout keeps one slow statement from holding up a lane for long.
 */
export class StatementLanes {
  private readonly lanes: { sql: postgres.Sql; inFlight: number }[];

  constructor(url: string, count: number, statementTimeoutMs: number) {
    this.lanes = Array.from({ length: count }, () => ({
      sql: postgres(url, {
        max: 1,
        onnotice: () => {},
        connection: {
          application_name: 'bastion-lane',
          statement_timeout: statementTimeoutMs,
        },
      }),
      inFlight: 0,
    }));
  }

  /** The lane with the fewest transactions in flight: a slow one is left to drain. */
  private pick() {
    let best = this.lanes[0]!;
    for (const lane of this.lanes) if (lane.inFlight < best.inFlight) best = lane;
    return best;
  }

  send(orgId: string, query: string, params: Params): LaneGroup {
    const lane = this.pick();
    const { sql } = lane;
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

  /** Parsers drizzle installs on a client (dates as text) must reach the lanes too. */
  shareParsers(from: postgres.Sql): void {
    for (const lane of this.lanes) {
      Object.assign(lane.sql.options.parsers, from.options.parsers);
      Object.assign(lane.sql.options.serializers, from.options.serializers);
    }
  }

  async close(): Promise<void> {
    await Promise.all(this.lanes.map((l) => l.sql.end({ timeout: 5 })));
  }
}
