/** Meta's error as we keep it on a message: never the raw body, never the token. */
export interface GraphError {
  code?: number;
  title?: string;
  message?: string;
}

export type SendOutcome =
  | { kind: 'sent'; waMessageId: string | null }
  /** Worth another attempt: 429, 5xx, a network error or a timeout. */
  | { kind: 'retry'; error: GraphError; retryAfterMs?: number }
  /** Meta refused the message itself (other 4xx): retrying cannot help. */
  | { kind: 'rejected'; error: GraphError };

export interface TextMessage {
  baseUrl: string;
  version: string;
  phoneNumberId: string;
  accessToken: string;
  /** E.164 with the +; Meta wants the digits only. */
  to: string;
  body: string;
  timeoutMs?: number;
}

const TIMEOUT_MS = 10_000;
const MAX_TEXT = 500;

const clip = (v: unknown, secret: string): string | undefined =>
  typeof v === 'string' && v.length > 0
    ? v.split(secret).join('[redacted]').slice(0, MAX_TEXT)
    : undefined;

/** Keeps code, title and message of `{error: {...}}`; the rest (fbtrace_id etc.) is dropped. */
function graphError(payload: unknown, status: number, secret: string): GraphError {
  const err = (payload as { error?: Record<string, unknown> } | null)?.error;
  const out: GraphError = {};
  if (err && typeof err.code === 'number' && Number.isFinite(err.code)) out.code = err.code;
  const title = clip(err?.error_user_title, secret);
  if (title !== undefined) out.title = title;
  out.message = clip(err?.message, secret) ?? `The Graph API answered HTTP ${status}`;
  return out;
}

/** Retry-After in seconds or as an HTTP date; anything else is ignored. */
export function retryAfterMs(header: string | null, now = Date.now()): number | undefined {
  if (!header) return undefined;
  if (/^[0-9]{1,6}$/.test(header.trim())) return Number(header.trim()) * 1000;
  const at = Date.parse(header);
  return Number.isNaN(at) ? undefined : Math.max(0, at - now);
}

/**
 * Sends one text message through the WhatsApp Cloud API. The token travels only in the
 * Authorization header to the configured Graph URL; it is never logged and is scrubbed
 * from any error text Meta might echo back.
 */
/**
 * Meta's throttling and transient error codes, which it often answers with HTTP 400: the
 * message is fine, the moment is not, so they are retried like a 429 (130429 throughput,
 * 131056 pair rate limit, 80007 and 4/17/32/613 app and account rate limits, 1/2/131000/
 * 131016/133004 temporary errors).
 */
const THROTTLED = new Set([1, 2, 4, 17, 32, 613, 80007, 130429, 131000, 131016, 131056, 133004]);

export async function sendText(m: TextMessage): Promise<SendOutcome> {
  const url = `${m.baseUrl}/${m.version}/${encodeURIComponent(m.phoneNumberId)}/messages`;
  let res: Response;
  try {
    res = await fetch(url, {
      method: 'POST',
      headers: { authorization: `Bearer ${m.accessToken}`, 'content-type': 'application/json' },
      body: JSON.stringify({
        messaging_product: 'whatsapp',
        recipient_type: 'individual',
        to: m.to.replace(/^\+/, ''),
        type: 'text',
        text: { preview_url: false, body: m.body },
      }),
      redirect: 'error',
      signal: AbortSignal.timeout(m.timeoutMs ?? TIMEOUT_MS),
    });
  } catch (err) {
    const timeout = err instanceof Error && err.name === 'TimeoutError';
    const message = timeout
      ? 'The Graph API did not answer in time'
      : 'The Graph API is unreachable';
    return { kind: 'retry', error: { message } };
  }
  const payload: unknown = await res.json().catch(() => null);
  if (res.ok) {
    const id = (payload as { messages?: { id?: unknown }[] } | null)?.messages?.[0]?.id;
    return { kind: 'sent', waMessageId: typeof id === 'string' ? id.slice(0, 256) : null };
  }
  const error = graphError(payload, res.status, m.accessToken);
  if (res.status === 429 || res.status >= 500 || THROTTLED.has(error.code ?? -1)) {
    const after = retryAfterMs(res.headers.get('retry-after'));
    return after === undefined
      ? { kind: 'retry', error }
      : { kind: 'retry', error, retryAfterMs: after };
  }
  return { kind: 'rejected', error };
}
