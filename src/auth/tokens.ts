import { jwtVerify, SignJWT, errors as joseErrors } from 'jose';
import { createHash, createHmac, randomBytes, webcrypto } from 'node:crypto';
import { secretEquals } from '../crypto/secret-equals.js';
import { isUuid } from '../db/ids.js';

export const ACCESS_TTL_SECONDS = 15 * 60;
const ISSUER = 'bastion';
const AUDIENCE = 'bastion-api';
const TYPE = 'at+jwt';
const VERIFIED_CACHE_MAX = 10_000;

export interface AccessClaims {
  userId: string;
  sessionId: string;
  orgId: string;
}

/** The claims of a token that passed verification, with its expiry (epoch milliseconds). */
export interface VerifiedClaims extends AccessClaims {
  expiresAt: number;
}

/**
 * JWS compact serialization: three base64url parts without padding (RFC 7515 section 2).
 * jose's decoder tolerates `=` padding, which would give one token a second spelling (and a
 * second cache entry): anything but the canonical form is refused before it is decoded.
 */
const COMPACT_JWS = /^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+$/;

/**
 * HS256 access tokens. The key is imported once as a CryptoKey (jose converts raw bytes or
 * a KeyObject on every call, a measurable cost per request), and verification pins the algorithm, issuer, audience, type and key id, so `alg: none`,
 * RS/HS confusion and tokens minted for another purpose are all refused.
 */
export class TokenService {
  private readonly key: Promise<webcrypto.CryptoKey>;
  private readonly csrfKey: Buffer;
  /**
   * Tokens already verified, by their exact text, until they expire. WebCrypto's HMAC runs
   * on the thread pool and was the largest single cost of an authenticated request; only
   * a token that passed full verification enters, so a forged one is always checked.
   * Revocation is not a token property: the session check runs on every request anyway.
   */
  private readonly verified = new Map<string, VerifiedClaims>();
  readonly kid: string;

  constructor(secret: string) {
    const bytes = Buffer.from(secret, 'utf8');
    this.key = webcrypto.subtle.importKey('raw', bytes, { name: 'HMAC', hash: 'SHA-256' }, false, [
      'sign',
      'verify',
    ]);
    this.kid = createHash('sha256').update(bytes).digest('base64url').slice(0, 16);
    this.csrfKey = createHmac('sha256', bytes).update('bastion csrf v1').digest();
  }

  async signAccess(c: AccessClaims): Promise<string> {
    return new SignJWT({ sid: c.sessionId, org: c.orgId })
      .setProtectedHeader({ alg: 'HS256', typ: TYPE, kid: this.kid })
      .setIssuer(ISSUER)
      .setAudience(AUDIENCE)
      .setSubject(c.userId)
      .setIssuedAt()
      .setExpirationTime(`${ACCESS_TTL_SECONDS}s`)
      .sign(await this.key);
  }

  /** The claims of a valid token, or null for anything else (never throws on bad input). */
  async verifyAccess(token: string): Promise<VerifiedClaims | null> {
    const now = Date.now();
    const hit = this.verified.get(token);
    if (hit) {
      if (hit.expiresAt > now) return hit;
      this.verified.delete(token);
    }
    if (!COMPACT_JWS.test(token)) return null;
    const checked = await this.verifyWithJose(token);
    if (checked) {
      if (this.verified.size >= VERIFIED_CACHE_MAX) {
        this.verified.delete(this.verified.keys().next().value!);
      }
      this.verified.set(token, checked);
    }
    return checked;
  }

  private async verifyWithJose(token: string): Promise<VerifiedClaims | null> {
    try {
      const { payload, protectedHeader } = await jwtVerify(token, await this.key, {
        algorithms: ['HS256'],
        issuer: ISSUER,
        audience: AUDIENCE,
        typ: TYPE,
        requiredClaims: ['sub', 'sid', 'org', 'iat', 'exp'],
      });
      if (protectedHeader.kid !== this.kid) return null;
      const { sub, sid, org } = payload;
      if (!isUuid(sub) || !isUuid(sid) || !isUuid(org)) return null;
      return { userId: sub, sessionId: sid, orgId: org, expiresAt: payload.exp! * 1000 };
    } catch (err) {
      if (err instanceof joseErrors.JOSEError || err instanceof TypeError) return null;
      throw err;
    }
  }

  /** The CSRF token of a session: an HMAC of its id, so it needs no storage. */
  csrfToken(sessionId: string): string {
    return createHmac('sha256', this.csrfKey).update(sessionId).digest('base64url');
  }

  csrfMatches(sessionId: string, presented: string | undefined): boolean {
    if (!presented) return false;
    return secretEquals(presented, this.csrfToken(sessionId));
  }
}

/** 256-bit opaque refresh token; only its SHA-256 is stored. */
export function newRefreshToken(): { token: string; hash: Buffer } {
  const token = randomBytes(32).toString('base64url');
  return { token, hash: sha256(token) };
}

export const sha256 = (value: string) => createHash('sha256').update(value).digest();
