import { hash, verify } from '@node-rs/argon2';
import { dictionary } from '@zxcvbn-ts/language-common';
import { availableParallelism } from 'node:os';
import { AppError } from '../security/errors.js';

/** OWASP's argon2id baseline (m=19 MiB, t=2, p=1). Runs on libuv's pool, off the event loop. */
// algorithm 2 is Algorithm.Argon2id (a const enum, which isolated modules cannot import).
const ARGON2 = { algorithm: 2 as const, memoryCost: 19_456, timeCost: 2, parallelism: 1 };

/**
 * At most this many argon2 computations at once. libuv runs them on its thread pool (4
 * threads): on a 2-core machine four hashes starve the event loop and every other request
 * waits behind a login flood. Leaving a core to the event loop keeps the API answering;
 * logins queue instead (and the per-address and per-email limits bound that queue).
 */
const HASH_SLOTS = Math.max(1, availableParallelism() - 1);
let busy = 0;
const waiting: (() => void)[] = [];

async function withHashSlot<T>(work: () => Promise<T>): Promise<T> {
  if (busy >= HASH_SLOTS) await new Promise<void>((resolve) => waiting.push(resolve));
  else busy++;
  try {
    return await work();
  } finally {
    const next = waiting.shift();
    if (next) next();
    else busy--;
  }
}

export const PASSWORD_MIN = 15;
export const PASSWORD_MAX = 256;

/** The 10,000 most common passwords of a maintained list (ordered by frequency). */
let common: Set<string> | undefined;
function commonPasswords(): Set<string> {
  common ??= new Set(dictionary['passwords-common'].slice(0, 10_000).map((p) => p.toLowerCase()));
  return common;
}

/**
 * NIST SP 800-63B rev. 4: length and a blocklist, no composition rules, never truncated.
 * Length counts Unicode code points, not UTF-16 units.
 */
export function assertAcceptablePassword(password: string): void {
  const length = [...password].length;
  if (length < PASSWORD_MIN || length > PASSWORD_MAX) {
    throw new AppError('weak_password', `Use ${PASSWORD_MIN} to ${PASSWORD_MAX} characters`);
  }
  if (commonPasswords().has(password.toLowerCase())) {
    throw new AppError('weak_password', 'This password is too common');
  }
}

export const hashPassword = (password: string) =>
  withHashSlot(() => hash(password.normalize('NFC'), ARGON2));

/** A real hash of a random value, verified against when the email is unknown. */
let dummy: Promise<string> | undefined;

/** Made at startup, so that the first unknown email does not pay for it (a timing tell). */
export function prepareDummyHash(): Promise<string> {
  return (dummy ??= hash(crypto.randomUUID(), ARGON2));
}

/**
 * Verifies against the stored hash, or against a dummy hash when there is none, so an
 * unknown email costs the same argon2 work as a wrong password and timing reveals nothing.
 */
export async function verifyPassword(
  stored: string | undefined,
  password: string,
): Promise<boolean> {
  const target = stored ?? (await prepareDummyHash());
  const ok = await withHashSlot(() => verify(target, password.normalize('NFC'))).catch(() => false);
  return ok && stored !== undefined;
}
