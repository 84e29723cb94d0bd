import { randomBytes, randomUUID } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { DecryptionError, Keyring } from '../../src/crypto/keyring.js';

/** DESIGN.md "Keyring": AES-256-GCM, key ids, associated data `orgId|table.column`. */

const key = (id: string) => ({ id, key: randomBytes(32) });
const ORG = randomUUID();
const OTHER_ORG = randomUUID();
const COLUMN = 'user_totp.secret';

/** Flips one bit of the base64url part at `index` (0: version ... 4: ciphertext). */
function tamper(stored: string, index: number): string {
  const parts = stored.split('.');
  const bytes = Buffer.from(parts[index]!, 'base64url');
  bytes[0]! ^= 1;
  parts[index] = bytes.toString('base64url');
  return parts.join('.');
}

describe('keyring', () => {
  const ring = new Keyring([key('k1')]);

  it('round-trips a value, stored as v1.<keyId>.<iv>.<tag>.<ciphertext>', () => {
    const stored = ring.encrypt('JBSWY3DPEHPK3PXPJBSWY3DP', ORG, COLUMN);
    expect(stored).toMatch(/^v1\.k1\.[A-Za-z0-9_-]{16}\.[A-Za-z0-9_-]{22}\.[A-Za-z0-9_-]+$/);
    expect(stored).not.toContain('JBSWY3DP');
    expect(ring.decrypt(stored, ORG, COLUMN)).toBe('JBSWY3DPEHPK3PXPJBSWY3DP');
    expect(Keyring.keyIdOf(stored)).toBe('k1');
  });

  it('uses a fresh IV each time: one plaintext never encrypts the same way twice', () => {
    const a = ring.encrypt('same', ORG, COLUMN);
    const b = ring.encrypt('same', ORG, COLUMN);
    expect(a).not.toBe(b);
  });

  const stored = ring.encrypt('secret value', ORG, COLUMN);
  it.each([
    ['a ciphertext copied into another organization', stored, OTHER_ORG, COLUMN],
    ['a ciphertext copied into another column', stored, ORG, 'user_totp.pending_secret'],
    ['a tampered authentication tag', tamper(stored, 3), ORG, COLUMN],
    ['a tampered ciphertext', tamper(stored, 4), ORG, COLUMN],
    ['a tampered IV', tamper(stored, 2), ORG, COLUMN],
    ['an unknown key id', stored.replace(/^v1\.k1\./, 'v1.k9.'), ORG, COLUMN],
    ['an unknown format version', stored.replace(/^v1\./, 'v2.'), ORG, COLUMN],
    ['a truncated value', stored.split('.').slice(0, 4).join('.'), ORG, COLUMN],
    ['an extra part', `${stored}.AAAA`, ORG, COLUMN],
    ['a shortened tag', stored.replace(/\.([^.]+)\.([^.]+)$/, '.AAAA.$2'), ORG, COLUMN],
    ['plaintext where a ciphertext belongs', 'JBSWY3DPEHPK3PXP', ORG, COLUMN],
  ])('refuses %s', (_attack, value, org, column) => {
    expect(() => ring.decrypt(value, org, column)).toThrow(DecryptionError);
  });

  it('refuses a value encrypted under a key of the same id but other bytes', () => {
    const impostor = new Keyring([key('k1')]);
    expect(() => impostor.decrypt(stored, ORG, COLUMN)).toThrow(DecryptionError);
  });

  it('still decrypts with an old key after a new active key is added', () => {
    const k1 = key('k1');
    const before = new Keyring([k1]).encrypt('kept', ORG, COLUMN);
    const after = new Keyring([key('k2'), k1]);
    expect(after.activeId).toBe('k2');
    expect(after.decrypt(before, ORG, COLUMN)).toBe('kept');
    expect(Keyring.keyIdOf(after.encrypt('new', ORG, COLUMN))).toBe('k2');
  });

  it('refuses an empty keyring', () => {
    expect(() => new Keyring([])).toThrow();
  });
});
