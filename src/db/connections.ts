import postgres from 'postgres';

/**
 * A client that owns exactly one PostgreSQL connection, and counts how often it lost it.
 *
 * postgres.js sends one client's queries to its one connection strictly in call order, which
 * is what the transaction code relies on. When the connection drops, statements already
 * sent fail, but a statement queued afterwards would run on a fresh connection outside the
 * transaction and its scope; `generation` lets callers refuse to queue anything more once a
 * drop has happened. No lifetime or idle limit: postgres.js ends such a connection without
 * draining its queue, which would split a transaction the same way.
 */
export class SingleConnection {
  readonly sql: postgres.Sql;
  generation = 0;

  constructor(url: string, applicationName: string, statementTimeoutMs?: number) {
    this.sql = postgres(url, {
      max: 1,
      max_lifetime: null,
      idle_timeout: 0,
      // The array-type lookup postgres.js runs on each (re)connect fails unhandled when the
      // connection drops again meanwhile; drizzle parses and builds arrays itself.
      fetch_types: false,
      onnotice: () => {},
      onclose: () => {
        this.generation++;
      },
      connection: {
        application_name: applicationName,
        ...(statementTimeoutMs ? { statement_timeout: statementTimeoutMs } : {}),
      },
    });
  }

  /** Parsers drizzle installs on its client (dates as text) must apply here too. */
  shareParsers(from: postgres.Sql): void {
    Object.assign(this.sql.options.parsers, from.options.parsers);
    Object.assign(this.sql.options.serializers, from.options.serializers);
  }

  end(): Promise<void> {
    return this.sql.end({ timeout: 5 });
  }
}

/**
 * Connections lent to one transaction at a time. This replaces postgres.js's reserve(),
 * which after a dropped connection can hand the old holder's statements to the next
 * borrower's transaction (another organization's scope).
 */
export class ConnectionPool {
  private readonly idle: SingleConnection[];
  private readonly waiting: ((c: SingleConnection) => void)[] = [];
  readonly all: readonly SingleConnection[];

  constructor(url: string, size: number) {
    this.all = Array.from({ length: size }, () => new SingleConnection(url, 'bastion'));
    this.idle = [...this.all];
  }

  acquire(): Promise<SingleConnection> {
    const c = this.idle.pop();
    return c ? Promise.resolve(c) : new Promise((resolve) => this.waiting.push(resolve));
  }

  release(c: SingleConnection): void {
    const next = this.waiting.shift();
    if (next) next(c);
    else this.idle.push(c);
  }

  async end(): Promise<void> {
    await Promise.all(this.all.map((c) => c.end()));
  }
}
