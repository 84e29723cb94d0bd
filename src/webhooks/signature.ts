import { createHmac } from 'node:crypto';
import { secretEquals } from '../crypto/secret-equals.js';

/**
 * Webhook signatures, judged on the raw bytes as received (never on re-serialized JSON)
 * and compared in constant time. Anything malformed is simply not a valid signature:
 * a missing header, a second header (Node joins repeats with ", "), another algorithm
 * such as Meta's legacy `sha1=`, or a digest of the wrong length.
 */
const HUB_SIGNATURE = /^sha256=([0-9a-fA-F]{64})$/;
const BASE64_SHA256 = /^[A-Za-z0-9+/]{43}=$/;

const hmac = (secret: string, body: Buffer) => createHmac('sha256', secret).update(body).digest();

function header(value: string | string[] | undefined): string | null {
  return typeof value === 'string' ? value : null;
}

/** Meta's `X-Hub-Signature-256: sha256=<hex HMAC-SHA256(appSecret, body)>`. */
export function validHubSignature(
  value: string | string[] | undefined,
  secret: string,
  body: Buffer,
): boolean {
  const match = HUB_SIGNATURE.exec(header(value) ?? '');
  if (!match) return false;
  return secretEquals(Buffer.from(match[1]!, 'hex'), hmac(secret, body));
}

/** WooCommerce's `X-WC-Webhook-Signature: base64(HMAC-SHA256(secret, body))`. */
export function validWooSignature(
  value: string | string[] | undefined,
  secret: string,
  body: Buffer,
): boolean {
  const given = header(value);
  if (!given || !BASE64_SHA256.test(given)) return false;
  return secretEquals(Buffer.from(given, 'base64'), hmac(secret, body));
}
