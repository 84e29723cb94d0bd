import type { AppContext } from '../../context.js';
import type { AppError } from '../../security/errors.js';

/**
 * The second-factor gate of sign-in: null when the user has no second factor, else the
 * `mfa_required` problem (carrying an `mfaToken`) to answer instead of a session.
 * TOTP enrolment is not built yet, so no user has a second factor.
 */
export async function mfaChallenge(
  _ctx: AppContext,
  _who: { userId: string; orgId: string },
): Promise<AppError | null> {
  return null;
}
