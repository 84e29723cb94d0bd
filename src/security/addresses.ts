/**
 * The client a per-address limit counts. An IPv6 client usually holds a whole /64 (and
 * can rotate through it at will), so IPv6 addresses count by their /64; an IPv4-mapped
 * IPv6 address counts as the IPv4 address it is.
 */
export function addressKey(ip: string | undefined): string {
  // A socket already gone has no address: such requests share one bucket, never none.
  if (!ip) return 'unknown';
  if (!ip.includes(':')) return ip;
  const mapped = /^::ffff:(\d{1,3}(?:\.\d{1,3}){3})$/i.exec(ip);
  if (mapped) return mapped[1]!;
  const [head = '', tail] = ip.replace(/%.*$/, '').toLowerCase().split('::');
  const left = head ? head.split(':') : [];
  const right = tail ? tail.split(':') : [];
  const groups =
    tail === undefined
      ? left
      : [
          ...left,
          ...Array<string>(Math.max(0, 8 - left.length - right.length)).fill('0'),
          ...right,
        ];
  const prefix = groups.slice(0, 4).map((g) => g.replace(/^0+(?=.)/, ''));
  return `${prefix.join(':')}::/64`;
}

const MAX_BLOCKS = 100_000;

/**
 * Addresses that have spent their unauthenticated budget, remembered by this instance so
 * it can turn them away before any credential lookup. The shared counter stays the source
 * of truth: each instance learns of a block from its own next count against that counter.
 */
export class AddressBlocks {
  private readonly blocks = new Map<string, { until: number; reported: boolean }>();

  constructor(private readonly now: () => number = Date.now) {}

  add(address: string, forMs: number): void {
    if (this.blocks.has(address)) return;
    if (this.blocks.size >= MAX_BLOCKS) this.sweep();
    // Still full of live blocks: forget the oldest rather than grow without bound.
    if (this.blocks.size >= MAX_BLOCKS) {
      const oldest = this.blocks.keys().next();
      if (!oldest.done) this.blocks.delete(oldest.value);
    }
    this.blocks.set(address, { until: this.now() + forMs, reported: false });
  }

  /** Milliseconds the address stays blocked, and whether this is its first refusal. */
  check(address: string): { remainingMs: number; first: boolean } | null {
    const block = this.blocks.get(address);
    if (!block) return null;
    const remainingMs = block.until - this.now();
    if (remainingMs <= 0) {
      this.blocks.delete(address);
      return null;
    }
    const first = !block.reported;
    block.reported = true;
    return { remainingMs, first };
  }

  private sweep() {
    const now = this.now();
    for (const [address, block] of this.blocks) if (block.until <= now) this.blocks.delete(address);
  }
}
