import type {} from '@fastify/cookie';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { ACCESS_TTL_SECONDS } from './tokens.js';

export interface CookieNames {
  access: string;
  refresh: string;
  csrf: string;
}

/**
 * `__Host-` pins a cookie to this exact host, path / and Secure (no subdomain can plant
 * one); `__Secure-` requires Secure. Plain-http development (COOKIE_SECURE=false) cannot
 * use either prefix, so the names lose them together with the Secure flag.
 */
export const cookieNames = (secure: boolean): CookieNames =>
  secure
    ? {
        access: '__Host-bastion_access',
        refresh: '__Secure-bastion_refresh',
        csrf: '__Host-bastion_csrf',
      }
    : { access: 'bastion_access', refresh: 'bastion_refresh', csrf: 'bastion_csrf' };

export const REFRESH_COOKIE_PATH = '/api/v1/auth';

export class SessionCookies {
  readonly names: CookieNames;
  constructor(private readonly secure: boolean) {
    this.names = cookieNames(secure);
  }

  set(
    reply: FastifyReply,
    c: { accessToken: string; refreshToken: string; csrfToken: string; refreshMaxAge: number },
  ): void {
    const base = { secure: this.secure, sameSite: 'strict', path: '/' } as const;
    reply.setCookie(this.names.access, c.accessToken, {
      ...base,
      httpOnly: true,
      maxAge: ACCESS_TTL_SECONDS,
    });
    reply.setCookie(this.names.refresh, c.refreshToken, {
      ...base,
      httpOnly: true,
      path: REFRESH_COOKIE_PATH,
      maxAge: c.refreshMaxAge,
    });
    // Readable by the console's scripts: it echoes this value in X-CSRF-Token.
    reply.setCookie(this.names.csrf, c.csrfToken, {
      ...base,
      httpOnly: false,
      maxAge: c.refreshMaxAge,
    });
  }

  clear(reply: FastifyReply): void {
    const base = { secure: this.secure, sameSite: 'strict', path: '/' } as const;
    reply.clearCookie(this.names.access, { ...base, httpOnly: true });
    reply.clearCookie(this.names.refresh, { ...base, httpOnly: true, path: REFRESH_COOKIE_PATH });
    reply.clearCookie(this.names.csrf, base);
  }

  accessToken(request: FastifyRequest): string | undefined {
    return request.cookies[this.names.access];
  }
}
