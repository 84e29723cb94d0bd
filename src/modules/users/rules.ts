import { hasRole } from '../../auth/guard.js';
import type { Tx } from '../../db/client.js';
import type { Role } from '../../db/schema.js';
import { AppError } from '../../security/errors.js';
import { countOwners } from './repo.js';

/**
 * The member-management policy (CONTRACT section 3, roles). Route access already requires
 * admin; these rules stop an admin from climbing past their own rank through another account.
 */

/** No one grants a role above their own: an admin cannot make an owner (or themselves one). */
export function assertMayGrant(actor: Role, role: Role): void {
  if (!hasRole(actor, role)) {
    throw new AppError('forbidden', 'You cannot grant a role above your own');
  }
}

/**
 * A member outranking the caller is out of reach, in every field: resetting an owner's
 * password or email would hand an admin the owner's account just as surely as a role change.
 */
export function assertMayManage(actor: Role, target: Role): void {
  if (!hasRole(actor, target)) {
    throw new AppError('forbidden', 'Only an owner can change or remove an owner');
  }
}

/**
 * An organization always keeps an owner: without one, no one could ever grant or recover
 * ownership again. Answered 409 (the caller may act, the organization's state forbids it).
 * Call with the organization locked (repo.lockOrganization), or two demotions could race.
 */
export async function assertAnotherOwnerRemains(tx: Tx, orgId: string): Promise<void> {
  if ((await countOwners(tx, orgId)) <= 1) {
    throw new AppError(
      'conflict',
      'The last owner of an organization cannot be demoted or removed',
    );
  }
}
