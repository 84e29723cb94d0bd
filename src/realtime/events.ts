import type { Bus } from '../infra/pubsub.js';

/** Events a socket receives (CONTRACT section 8), always within one organization. */
export type RealtimeEventType =
  'message.created' | 'message.status' | 'conversation.created' | 'conversation.updated';

export interface RealtimeEvent {
  type: RealtimeEventType;
  data: Record<string, unknown>;
}

/** What travels on the bus: the event and the one organization allowed to see it. */
export interface RealtimeEnvelope {
  orgId: string;
  event: RealtimeEvent;
}

export const REALTIME_CHANNEL = 'bastion:realtime';

/**
 * Publishing side of realtime: webhooks, routes and the send worker call this and never
 * touch sockets (DESIGN.md). The bus carries it to every instance's socket hub. A lost
 * event is logged, never thrown: the database already holds the truth it announces.
 */
export interface RealtimePublisher {
  publish(orgId: string, event: RealtimeEvent): void;
}

export function busPublisher(bus: Bus, onError: (err: unknown) => void): RealtimePublisher {
  return {
    publish(orgId, event) {
      const envelope: RealtimeEnvelope = { orgId, event };
      bus.publish(REALTIME_CHANNEL, JSON.stringify(envelope)).catch(onError);
    },
  };
}
