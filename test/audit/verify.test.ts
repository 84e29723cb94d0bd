import { describe, expect, it } from 'vitest';
import { verifyChains, type OwnerQuery } from '../../src/audit/chain.js';
import { asOwner, chain, dropOrg, useChainFixture, verify } from './chain-fixture.js';

/**
 * Issue 3 item 8: `bastion audit verify` recomputes every organization's chain as the owner
 * role and names the first bad row. Tampering is done as the owner, which the grants allow.
 * (One file: tests that tamper must not run beside a test that expects an intact log.)
 */

useChainFixture();

describe('bastion audit verify', () => {
  it('exits 0 when every chain is intact, whatever the text in the rows', async () => {
    await chain(12); // past 9: rows must be walked by number, not by their text
    await chain(1);
    const run = await verify();
    expect(run.out).toMatch(/audit log intact: \d+ rows/);
    expect(run.code).toBe(0);
  });

  it('exits 1 naming the row after one deleted from the middle of a chain', async () => {
    const { orgId, ids } = await chain(4);
    await asOwner((q) => q.query('DELETE FROM audit_logs WHERE id = $1', [ids[1]]));
    const run = await verify();
    expect(run.code).toBe(1);
    expect(run.out).toContain(`organization ${orgId}, row ${ids[2]}`);
  });

  it('exits 1 naming an edited row', async () => {
    const { orgId, ids } = await chain(3);
    await asOwner((q) =>
      q.query("UPDATE audit_logs SET action = 'customer.viewed' WHERE id = $1", [ids[1]]),
    );
    const run = await verify();
    expect(run.code).toBe(1);
    expect(run.out).toContain(`organization ${orgId}, row ${ids[1]}`);
  });
});

/** The same check in process, for the many ways to tamper (one owner session each). */
describe('the chain check', () => {
  type Attack = (q: OwnerQuery, ids: string[], orgId: string) => Promise<unknown>;
  const update =
    (set: string): Attack =>
    (q, ids) =>
      q.query(`UPDATE audit_logs SET ${set} WHERE id = $1`, [ids[1]]);
  const tampering: [string, Attack, number | null][] = [
    ['an edited action', update("action = 'customer.viewed'"), 1],
    ['edited metadata', update(`metadata = '{"n": 9}'`), 1],
    ['a backdated row', update("at = at - interval '1 day'"), 1],
    ['a replaced actor', update('actor_id = gen_random_uuid()'), 1],
    ['a changed ip', update("ip = '192.0.2.1'"), 1],
    ['a changed request id', update("request_id = 'other'"), 1],
    ['a replaced hash', update("hash = sha256('x')"), 1],
    ['a renumbered row', update('seq = seq + 100'), 2],
    [
      'a row deleted from the middle',
      (q, ids) => q.query('DELETE FROM audit_logs WHERE id = $1', [ids[1]]),
      2,
    ],
    [
      'a row deleted and the next one relinked to its predecessor',
      async (q, ids) => {
        await q.query('DELETE FROM audit_logs WHERE id = $1', [ids[1]]);
        await q.query(
          `UPDATE audit_logs SET seq = 2,
             prev_hash = (SELECT hash FROM audit_logs WHERE id = $2) WHERE id = $1`,
          [ids[2], ids[0]],
        );
        await q.query('UPDATE audit_logs SET seq = 3 WHERE id = $1', [ids[3]]);
      },
      2,
    ],
    [
      'the last row deleted',
      (q, ids) => q.query('DELETE FROM audit_logs WHERE id = $1', [ids[3]]),
      2,
    ],
    [
      'the chain head removed',
      (q, _ids, orgId) =>
        q.query('DELETE FROM audit_chain_heads WHERE organization_id = $1', [orgId]),
      null,
    ],
  ];

  it.each(tampering)('names the first bad row after %s', async (_name, attack, bad) => {
    const { orgId, ids } = await chain(4);
    await asOwner(async (q) => {
      await attack(q, ids, orgId);
      const { broken } = await verifyChains(q);
      await dropOrg(q, orgId);
      expect(broken).toMatchObject({ orgId, rowId: bad === null ? null : ids[bad] });
    });
  });

  it('passes the untouched chain (control)', async () => {
    await chain(4);
    expect((await asOwner(verifyChains)).broken).toBeNull();
  });
});
