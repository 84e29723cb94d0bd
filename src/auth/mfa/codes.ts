import { createHash, randomBytes } from 'node:crypto';
import { generateSecret, generateURI, verify } from 'otplib';
import { secretEquals } from '../../crypto/secret-equals.js';

/** RFC 6238 defaults, which every authenticator app understands. */
export const TOTP_PERIOD_SECONDS = 30;
export const RECOVERY_CODE_COUNT = 10;

export const newTotpSecret = (): string => generateSecret({ length: 20 });

export const otpauthUrl = (email: string, secret: string): string =>
  generateURI({ issuer: 'Bastion', label: email, secret });

export const looksLikeTotp = (code: string) => /^[0-9]{6}$/.test(code);

/**
 * The time step a TOTP code belongs to: the current 30 s step or one either side (clock
 * drift), else null. The caller refuses a step at or before the last one used (replay).
 * otplib compares codes in constant time.
 */
export async function totpStep(
  secret: string,
  code: string,
  nowMs: number,
): Promise<number | null> {
  if (!looksLikeTotp(code)) return null;
  const result = await verify({
    secret,
    token: code,
    epoch: Math.floor(nowMs / 1000),
    epochTolerance: TOTP_PERIOD_SECONDS,
  });
  return result.valid && 'timeStep' in result ? result.timeStep : null;
}

// 32 symbols without 0/o or 1/l, so a code copied from paper reads back unambiguously.
const ALPHABET = 'abcdefghijkmnpqrstuvwxyz23456789';

/**
 * A recovery code: 120 random bits as six groups of four. At 112 bits and more (ASVS 5.0
 * V6.6) a lookup secret cannot be guessed or brute-forced from its unsalted SHA-256.
 */
function newRecoveryCode(): string {
  const bytes = randomBytes(15);
  let bits = 0n;
  for (const b of bytes) bits = (bits << 8n) | BigInt(b);
  let out = '';
  for (let i = 23; i >= 0; i--) out += ALPHABET[Number((bits >> BigInt(i * 5)) & 31n)];
  return out.match(/.{4}/g)!.join('-');
}

/** Case, spaces and dashes are presentation: `ABCD EFGH-...` is the same code. */
export const normalizeRecoveryCode = (code: string) => code.toLowerCase().replace(/[\s-]+/g, '');

export const hashRecoveryCode = (code: string): Buffer =>
  createHash('sha256')
    .update(`bastion-recovery-v1:${normalizeRecoveryCode(code)}`)
    .digest();

/** Ten fresh codes, to show once, and the hashes that are all the server keeps. */
export function newRecoveryCodes(): { codes: string[]; hashes: Buffer[] } {
  const codes = Array.from({ length: RECOVERY_CODE_COUNT }, newRecoveryCode);
  return { codes, hashes: codes.map(hashRecoveryCode) };
}

/** The stored hash a presented code matches, compared in constant time against each. */
export function matchRecoveryCode(code: string, stored: Buffer[]): Buffer | undefined {
  const presented = hashRecoveryCode(code);
  let match: Buffer | undefined;
  for (const hash of stored) {
    if (secretEquals(presented, hash)) match = hash;
  }
  return match;
}

/** The token a client holds between the password and the second factor (256 random bits). */
export function newChallengeToken(): { token: string; hash: Buffer } {
  const token = randomBytes(32).toString('base64url');
  return { token, hash: hashChallengeToken(token) };
}

export const hashChallengeToken = (token: string): Buffer =>
  createHash('sha256').update(token, 'utf8').digest();
