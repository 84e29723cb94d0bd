import type { FastifyBaseLogger } from 'fastify';
import { WebSocket } from 'ws';
import {
  REVOCATIONS_CHANNEL as SESSION_REVOCATIONS,
  type Principal,
  type Revocation,
} from '../auth/sessions.js';
import type { Database } from '../db/client.js';
import type { Bus } from '../infra/pubsub.js';
import { REALTIME_CHANNEL, type RealtimeEnvelope } from './events.js';
import { liveSessions } from './liveness.js';

/** RFC 6455 close codes the hub uses. */
export const CLOSE = { policy: 1008, goingAway: 1001 } as const;
const SHUTDOWN_GRACE_MS = 1_000;

export const DEFAULT_HUB_OPTIONS = {
  /** How often every socket's session is re-read from the database (deadline: 5 s). */
  checkEveryMs: 2_000,
  /** How often sockets are pinged; one that missed the previous pong is dropped. */
  heartbeatMs: 30_000,
  /** Sockets one member may hold on this instance. */
  maxPerUser: 20,
  /** Unsent bytes a socket may queue before it is dropped as a slow consumer. */
  maxBufferedBytes: 1024 * 1024,
};
export type HubOptions = typeof DEFAULT_HUB_OPTIONS;

interface Client {
  socket: WebSocket;
  principal: Principal;
  /** When the access token that opened the socket expires (ms). */
  expiresAt: number;
  alive: boolean;
}

/**
 * The sockets of this instance, by organization. Events arrive on the bus from any
 * instance and go only to sockets of the envelope's organization. A socket lives only as
 * long as the session and the access token that opened it: a stolen token's socket must
 * not outlast logout, revocation, expiry or a newly required second factor.
 */
export class RealtimeHub {
  private readonly byOrg = new Map<string, Set<Client>>();
  private readonly timers: NodeJS.Timeout[] = [];
  private checking = false;
  private closed = false;

  constructor(
    private readonly deps: { bus: Bus; db: Database; log: FastifyBaseLogger },
    private readonly opts: HubOptions = DEFAULT_HUB_OPTIONS,
  ) {}

  async start(): Promise<void> {
    await this.deps.bus.subscribe(REALTIME_CHANNEL, (m) => this.deliver(m));
    // Revocations announced on any instance: re-check the affected sockets at once.
    await this.deps.bus.subscribe(SESSION_REVOCATIONS, (m) => this.onRevocation(m));
    this.timers.push(
      setInterval(() => void this.checkAll(), this.opts.checkEveryMs).unref(),
      setInterval(() => this.heartbeat(), this.opts.heartbeatMs).unref(),
    );
  }

  add(socket: WebSocket, principal: Principal, expiresAt: number): void {
    if (this.closed) return socket.close(CLOSE.goingAway, 'server shutting down');
    const org = this.byOrg.get(principal.orgId) ?? new Set<Client>();
    let mine = 0;
    for (const c of org) if (c.principal.userId === principal.userId) mine++;
    // One stolen token must not be able to pin an unbounded number of sockets and buffers.
    if (mine >= this.opts.maxPerUser) return socket.close(CLOSE.policy, 'too many sockets');
    const client: Client = { socket, principal, expiresAt, alive: true };
    org.add(client);
    this.byOrg.set(principal.orgId, org);
    socket.on('pong', () => (client.alive = true));
    // Read-only for the client: small frames are dropped unread (ws maxPayload closes big ones).
    socket.on('close', () => this.remove(client));
  }

  private remove(client: Client): void {
    const org = this.byOrg.get(client.principal.orgId);
    org?.delete(client);
    if (org?.size === 0) this.byOrg.delete(client.principal.orgId);
  }

  private end(client: Client, code: number, reason: string): void {
    this.remove(client);
    client.socket.close(code, reason);
  }

  private deliver(message: string): void {
    let envelope: RealtimeEnvelope;
    try {
      envelope = JSON.parse(message) as RealtimeEnvelope;
    } catch (err) {
      return this.deps.log.warn({ err }, 'realtime envelope is not JSON');
    }
    const org = typeof envelope?.orgId === 'string' ? this.byOrg.get(envelope.orgId) : undefined;
    if (!org || typeof envelope.event?.type !== 'string') return;
    const text = JSON.stringify({ type: envelope.event.type, data: envelope.event.data });
    const now = Date.now();
    for (const client of [...org]) {
      if (client.expiresAt <= now) this.end(client, CLOSE.policy, 'token expired');
      else if (client.socket.readyState !== WebSocket.OPEN) continue;
      // A client that stops reading would otherwise grow our memory without bound.
      else if (client.socket.bufferedAmount > this.opts.maxBufferedBytes) {
        this.remove(client);
        client.socket.terminate();
      } else client.socket.send(text);
    }
  }

  private onRevocation(message: string): void {
    let r: Revocation;
    try {
      r = JSON.parse(message) as Revocation;
    } catch {
      return;
    }
    const hit = (c: Client) =>
      'session' in r
        ? c.principal.sessionId === r.session
        : 'user' in r
          ? c.principal.userId === r.user
          : c.principal.orgId === r.organization;
    const affected = [...this.byOrg.values()].flatMap((org) => [...org].filter(hit));
    if (affected.length > 0) void this.check(affected);
  }

  /** The periodic sweep: covers expiry and revocations whose announcement never arrived. */
  private async checkAll(): Promise<void> {
    if (this.checking || this.closed) return;
    this.checking = true;
    try {
      await this.check([...this.byOrg.values()].flatMap((org) => [...org]));
    } finally {
      this.checking = false;
    }
  }

  private async check(clients: Client[]): Promise<void> {
    const now = Date.now();
    const byOrg = new Map<string, Client[]>();
    for (const c of clients) {
      if (c.expiresAt <= now) this.end(c, CLOSE.policy, 'token expired');
      else if (byOrg.has(c.principal.orgId)) byOrg.get(c.principal.orgId)!.push(c);
      else byOrg.set(c.principal.orgId, [c]);
    }
    for (const [orgId, group] of byOrg) {
      let live: Set<string>;
      try {
        live = await liveSessions(this.deps.db, orgId, [
          ...new Set(group.map((c) => c.principal.sessionId)),
        ]);
      } catch (err) {
        // No answer is not a revocation: a revocation needs the database to commit anyway.
        this.deps.log.warn({ err }, 'realtime session check failed');
        continue;
      }
      const ended = group.filter((c) => !live.has(c.principal.sessionId));
      for (const c of ended) this.end(c, CLOSE.policy, 'session ended');
    }
  }

  private heartbeat(): void {
    for (const org of this.byOrg.values()) {
      for (const client of [...org]) {
        if (!client.alive) {
          this.remove(client);
          client.socket.terminate();
          continue;
        }
        client.alive = false;
        if (client.socket.readyState === WebSocket.OPEN) client.socket.ping();
      }
    }
  }

  /** Ends every socket (app shutdown): clients reconnect to another instance. */
  async close(): Promise<void> {
    this.closed = true;
    for (const t of this.timers) clearInterval(t);
    const sockets = [...this.byOrg.values()].flatMap((org) => [...org].map((c) => c.socket));
    this.byOrg.clear();
    await Promise.all(
      sockets.map(
        (socket) =>
          new Promise<void>((done) => {
            if (socket.readyState === WebSocket.CLOSED) return done();
            socket.once('close', () => done());
            socket.close(CLOSE.goingAway, 'server shutting down');
            // A dead peer never answers the close handshake; do not hold shutdown for it.
            setTimeout(() => socket.terminate(), SHUTDOWN_GRACE_MS).unref();
          }),
      ),
    );
  }
}
