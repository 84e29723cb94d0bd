import type { FastifyError, FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { hasZodFastifySchemaValidationErrors } from 'fastify-type-provider-zod';

/** The stable error codes of CONTRACT section 2; clients branch on these, never on text. */
export const problems = {
  validation_failed: { status: 400, title: 'The request is not valid' },
  invalid_json: { status: 400, title: 'The body is not valid JSON' },
  // Bad framing, an invalid method, headers too large: answered on the raw socket, where
  // the status varies (400, 408, 431) and the code does not.
  malformed_request: { status: 400, title: 'The request is malformed' },
  invalid_credentials: { status: 401, title: 'Invalid email or password' },
  unauthorized: { status: 401, title: 'Authentication is required' },
  forbidden: { status: 403, title: 'You are not allowed to do this' },
  insufficient_scope: { status: 403, title: 'The credential lacks the required scope' },
  csrf_failed: { status: 403, title: 'Cross-site request refused' },
  not_found: { status: 404, title: 'Not found' },
  method_not_allowed: { status: 405, title: 'Method not allowed' },
  conflict: { status: 409, title: 'Conflict' },
  payload_too_large: { status: 413, title: 'The body is too large' },
  unsupported_media_type: { status: 415, title: 'Unsupported media type' },
  rate_limited: { status: 429, title: 'Too many requests' },
  mfa_required: { status: 401, title: 'A second factor is required' },
  invalid_mfa_code: { status: 401, title: 'Invalid verification code' },
  token_reused: { status: 401, title: 'Refresh token reuse detected' },
  weak_password: { status: 400, title: 'The password is too weak' },
  invalid_signature: { status: 403, title: 'Invalid signature' },
  internal_error: { status: 500, title: 'Internal server error' },
  unavailable: { status: 503, title: 'Service unavailable' },
} as const;

export type ProblemCode = keyof typeof problems;

export interface FieldError {
  path: string;
  message: string;
}

/** What a problem carries besides its code and detail. */
export interface ProblemOptions {
  /** Per-field reasons of a validation failure. */
  errors?: FieldError[];
  /** Extra members of the problem body, e.g. the `mfaToken` of `mfa_required`. */
  extra?: Record<string, unknown>;
  /** Response headers that belong to the problem, e.g. Retry-After on a 429. */
  headers?: Record<string, string>;
}

/** An error meant for the client: its code, status and detail are safe to show. */
export class AppError extends Error {
  readonly status: number;
  readonly errors: FieldError[] | undefined;
  readonly extra: Record<string, unknown> | undefined;
  readonly headers: Record<string, string> | undefined;
  constructor(
    readonly code: ProblemCode,
    readonly detail?: string,
    options: ProblemOptions = {},
  ) {
    super(detail ?? problems[code].title);
    this.name = 'AppError';
    this.status = problems[code].status;
    this.errors = options.errors;
    this.extra = options.extra;
    this.headers = options.headers;
  }
}

export const notFound = () => new AppError('not_found');

/** Whole seconds until a window resets, at least 1 (Retry-After and RateLimit-Reset). */
export const secondsUntil = (ms: number) => Math.max(1, Math.ceil(ms / 1000));

/** 429 with Retry-After: every limit (per address, per credential, per email, per code). */
export const rateLimited = (resetMs: number, detail?: string) =>
  new AppError('rate_limited', detail, {
    headers: { 'retry-after': String(secondsUntil(resetMs)) },
  });
export const validationFailed = (errors: FieldError[], detail?: string) =>
  new AppError('validation_failed', detail ?? 'See errors for the fields that are not valid', {
    errors,
  });

/** What a problem body is made of: an AppError, or the raw-socket writer's few fields. */
type ProblemParts = Pick<AppError, 'code'> & Partial<Pick<AppError, 'detail' | 'errors' | 'extra'>>;

/** The RFC 9457 body of every problem, whoever writes it. */
export function problemBody(
  p: ProblemParts,
  requestId: string,
  status: number = problems[p.code].status,
): Record<string, unknown> {
  return {
    type: `urn:bastion:problem:${p.code}`,
    title: problems[p.code].title,
    status,
    code: p.code,
    ...(p.detail !== undefined ? { detail: p.detail } : {}),
    requestId,
    ...(p.errors ? { errors: p.errors } : {}),
    ...p.extra,
  };
}

export function sendProblem(reply: FastifyReply, err: AppError): FastifyReply {
  if (err.headers) reply.headers(err.headers);
  return reply
    .code(err.status)
    .type('application/problem+json')
    .send(problemBody(err, reply.request.id));
}

const FASTIFY_CODES: Record<string, ProblemCode> = {
  FST_ERR_CTP_BODY_TOO_LARGE: 'payload_too_large',
  FST_ERR_CTP_INVALID_MEDIA_TYPE: 'unsupported_media_type',
  FST_ERR_CTP_INVALID_CONTENT_LENGTH: 'malformed_request',
  FST_ERR_CTP_EMPTY_JSON_BODY: 'invalid_json',
  FST_ERR_CTP_INVALID_JSON_BODY: 'invalid_json',
  FST_ERR_NOT_FOUND: 'not_found',
};

/** Maps every error to a problem; causes go to the log, never to the client. */
export function toAppError(error: FastifyError | Error, request: FastifyRequest): AppError {
  if (error instanceof AppError) return error;
  if (hasZodFastifySchemaValidationErrors(error)) {
    const where = (error as FastifyError).validationContext ?? 'body';
    return validationFailed(
      error.validation.map((v) => ({
        path: [where, ...String(v.instancePath).split('/').filter(Boolean)].join('.'),
        message: v.message ?? 'invalid',
      })),
    );
  }
  const code = (error as FastifyError).code;
  const mapped = code ? FASTIFY_CODES[code] : undefined;
  if (mapped) return new AppError(mapped);
  const status = (error as FastifyError).statusCode;
  if (status !== undefined && status >= 400 && status < 500) {
    request.log.info({ err: error }, 'client error without a problem code');
    return new AppError('validation_failed', 'The request could not be processed');
  }
  request.log.error({ err: error }, 'unhandled error');
  return new AppError('internal_error');
}

/**
 * Errors the router raises before any hook runs (a broken %-escape, an over-long path
 * parameter): Fastify's own answer would echo the path in a non-problem body.
 */
export function frameworkErrors(
  _error: FastifyError,
  request: FastifyRequest,
  reply: FastifyReply,
): void {
  reply.header('x-request-id', request.id);
  void sendProblem(reply, new AppError('validation_failed', 'The URL is not valid'));
}

export function registerErrorHandling(app: FastifyInstance): void {
  app.setErrorHandler((error: FastifyError, request, reply) =>
    sendProblem(reply, toAppError(error, request)),
  );
  app.setNotFoundHandler((request, reply) => sendProblem(reply, notFound()));
}
