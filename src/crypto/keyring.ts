import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto';
import type { EncryptionKey } from '../config.js';

const VERSION = 'v1';
const IV_BYTES = 12;
const TAG_BYTES = 16;

export class DecryptionError extends Error {
  constructor() {
    super('ciphertext cannot be decrypted');
    this.name = 'DecryptionError';
  }
}

/**
 * AES-256-GCM for secrets the server must read back (TOTP secrets, channel credentials).
 * Each value gets a random 96-bit IV, and associated data `orgId|table.column`, so a
 * ciphertext copied into another organization's row or another column fails to decrypt.
 * Stored as `v1.<keyId>.<iv>.<tag>.<ciphertext>` (base64url): the key id names the key to
 * decrypt with, so old values stay readable after rotation until `bastion keys rotate`.
 */
export class Keyring {
  private readonly keys: Map<string, Buffer>;
  readonly activeId: string;

  constructor(keys: EncryptionKey[]) {
    if (keys.length === 0) throw new Error('the keyring needs at least one key');
    this.keys = new Map(keys.map((k) => [k.id, k.key]));
    this.activeId = keys[0]!.id;
  }

  static aad(orgId: string, column: string): Buffer {
    return Buffer.from(`${orgId}|${column}`, 'utf8');
  }

  encrypt(plaintext: string, orgId: string, column: string): string {
    const iv = randomBytes(IV_BYTES);
    const cipher = createCipheriv('aes-256-gcm', this.keys.get(this.activeId)!, iv);
    cipher.setAAD(Keyring.aad(orgId, column));
    const body = Buffer.concat([cipher.update(plaintext, 'utf8'), cipher.final()]);
    return [VERSION, this.activeId, iv, cipher.getAuthTag(), body]
      .map((p) => (typeof p === 'string' ? p : p.toString('base64url')))
      .join('.');
  }

  decrypt(stored: string, orgId: string, column: string): string {
    const [version, keyId, iv, tag, body, ...rest] = stored.split('.');
    const key = keyId === undefined ? undefined : this.keys.get(keyId);
    if (
      version !== VERSION ||
      !key ||
      iv === undefined ||
      tag === undefined ||
      body === undefined ||
      rest.length
    ) {
      throw new DecryptionError();
    }
    try {
      const ivBytes = Buffer.from(iv, 'base64url');
      const tagBytes = Buffer.from(tag, 'base64url');
      if (ivBytes.length !== IV_BYTES || tagBytes.length !== TAG_BYTES) throw new DecryptionError();
      const decipher = createDecipheriv('aes-256-gcm', key, ivBytes, { authTagLength: TAG_BYTES });
      decipher.setAAD(Keyring.aad(orgId, column));
      decipher.setAuthTag(tagBytes);
      return Buffer.concat([
        decipher.update(Buffer.from(body, 'base64url')),
        decipher.final(),
      ]).toString('utf8');
    } catch {
      throw new DecryptionError();
    }
  }

  /** The id of the key a stored value was encrypted with (rotation re-encrypts the others). */
  static keyIdOf(stored: string): string | undefined {
    return stored.split('.')[1];
  }
}
