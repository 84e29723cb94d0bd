import type { FastifyRequest, FastifyServerOptions } from 'fastify';

/**
 * Query values are logged only for these keys, and only when they are plain tokens: a
 * `?search=` holds a customer's name, phone or email (personal data that a log keeps past
 * any erasure), and other parameters may carry secrets (`hub.verify_token`). Every other
 * value, and any key that is not a plain name, is `[redacted]`.
 */
const LOGGED_PARAMS = new Set(['limit', 'cursor', 'stage', 'status', 'hub.mode']);
const PLAIN_KEY = /^[A-Za-z0-9_.[\]-]{1,64}$/;
const PLAIN_VALUE = /^[A-Za-z0-9_.:-]{0,64}$/;

const decoded = (s: string) => {
  try {
    return decodeURIComponent(s.replaceAll('+', ' '));
  } catch {
    return null;
  }
};

function redactParam(pair: string): string {
  const eq = pair.indexOf('=');
  const key = decoded(eq === -1 ? pair : pair.slice(0, eq));
  if (key === null || !PLAIN_KEY.test(key)) return '[redacted]';
  if (eq === -1) return key;
  const value = decoded(pair.slice(eq + 1));
  const keep = LOGGED_PARAMS.has(key) && value !== null && PLAIN_VALUE.test(value);
  return `${key}=${keep ? value : '[redacted]'}`;
}

/** The URL as logged: the path, and the query with its values redacted (see above). */
export function redactUrl(url: string): string {
  const q = url.indexOf('?');
  if (q === -1) return url;
  const query = url
    .slice(q + 1)
    .split('&')
    .filter(Boolean)
    .map(redactParam);
  return `${url.slice(0, q)}?${query.join('&')}`;
}

/**
 * JSON lines. Requests are logged by method and redacted URL only: no headers, no bodies,
 * so credentials, cookies and message texts stay out of the logs. The paths below cover
 * anything that code logs explicitly by mistake.
 */
export function loggerOptions(level: string): Exclude<FastifyServerOptions['logger'], undefined> {
  return {
    level,
    redact: {
      paths: [
        'req.headers.authorization',
        'req.headers.cookie',
        'req.headers["x-csrf-token"]',
        'res.headers["set-cookie"]',
        '*.password',
        '*.currentPassword',
        '*.newPassword',
        '*.token',
        '*.accessToken',
        '*.refreshToken',
        '*.secret',
        '*.key',
        '*.appSecret',
        '*.verifyToken',
      ],
      censor: '[redacted]',
    },
    serializers: {
      err: safeError,
      req: (req: FastifyRequest) => ({
        method: req.method,
        url: redactUrl(req.url),
        ip: req.ip,
      }),
    },
  };
}

/**
 * A database driver error's codes: not its message or detail, which quote the values
 * ("invalid input syntax for type integer: \"...\"", "Key (phone)=(...) already exists").
 */
function databaseFields(cause: unknown): Record<string, unknown> {
  if (typeof cause !== 'object' || cause === null) return {};
  const c = cause as Record<string, unknown>;
  const pick = (k: string) => (typeof c[k] === 'string' ? { [k]: c[k] } : {});
  return {
    ...pick('code'),
    ...pick('severity'),
    ...(typeof c.constraint_name === 'string' ? { constraint: c.constraint_name } : {}),
    ...(typeof c.constraint === 'string' ? { constraint: c.constraint } : {}),
  };
}

/**
 * Errors as log lines. A failed query's error (drizzle's) carries its SQL parameters in its
 * message, stack and fields: webhook bodies, message texts, phone numbers. Only the query's
 * failure and PostgreSQL's codes are logged for those.
 */
interface ErrorLine {
  [key: string]: unknown;
  type: string;
  message: string;
  stack: string;
}

export function safeError(err: unknown): ErrorLine {
  if (!(err instanceof Error)) return { type: typeof err, message: String(err), stack: '' };
  if ('params' in err || 'parameters' in err || 'query' in err) {
    return {
      type: err.name,
      message: 'database query failed',
      ...databaseFields((err as { cause?: unknown }).cause ?? err),
      // The frames only: the message lines above them hold the parameters.
      stack: (err.stack ?? '')
        .split('\n')
        .filter((l) => /^\s+at /.test(l))
        .join('\n'),
    };
  }
  const extra = err as unknown as Record<string, unknown>;
  return {
    type: err.name,
    message: err.message,
    stack: err.stack ?? '',
    ...(typeof extra.code === 'string' ? { code: extra.code } : {}),
    ...(typeof extra.statusCode === 'number' ? { statusCode: extra.statusCode } : {}),
    ...(err.cause === undefined ? {} : { cause: safeError(err.cause) }),
  };
}
