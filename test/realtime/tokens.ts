import { SignJWT, decodeJwt } from 'jose';
import { createHash } from 'node:crypto';

/**
 * Access tokens minted outside the server, for attack cases: the same claims and header
 * the server issues (see src/auth/tokens.ts), with one thing wrong at a time.
 */
export const kidOf = (secret: string) =>
  createHash('sha256').update(Buffer.from(secret, 'utf8')).digest('base64url').slice(0, 16);

export async function accessToken(
  secret: string,
  like: string,
  opts: { expiresAt?: number; kid?: string } = {},
): Promise<string> {
  const claims = decodeJwt(like);
  const exp = opts.expiresAt ?? claims.exp!;
  return new SignJWT({ sid: claims.sid, org: claims.org })
    .setProtectedHeader({ alg: 'HS256', typ: 'at+jwt', kid: opts.kid ?? kidOf(secret) })
    .setIssuer('bastion')
    .setAudience('bastion-api')
    .setSubject(claims.sub!)
    .setIssuedAt(Math.min(exp - 60, Math.floor(Date.now() / 1000)))
    .setExpirationTime(exp)
    .sign(Buffer.from(secret, 'utf8'));
}

/** The same claims with `alg: none` and no signature. */
export function unsignedToken(secret: string, like: string): string {
  const b64 = (v: unknown) => Buffer.from(JSON.stringify(v)).toString('base64url');
  const header = { alg: 'none', typ: 'at+jwt', kid: kidOf(secret) };
  return `${b64(header)}.${b64(decodeJwt(like))}.`;
}

export const sessionIdOf = (token: string) => decodeJwt(token).sid as string;
