import type { FastifyRequest, FastifyServerOptions } from 'fastify';

/** Query parameters whose values never reach a log line. */
const SECRET_PARAM =
  /token|secret|password|passwd|key|code|signature|challenge|otp|auth|session|cookie|jwt|bearer|credential/i;

export function redactUrl(url: string): string {
  const q = url.indexOf('?');
  if (q === -1) return url;
  const params = new URLSearchParams(url.slice(q + 1));
  for (const name of new Set(params.keys())) {
    if (SECRET_PARAM.test(name)) params.set(name, '[redacted]');
  }
  return `${url.slice(0, q)}?${params.toString()}`;
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
