// Leases of lease-aware pollers, each state change one guarded statement (server clock only:
// every time here is a parameter the store fills from its own clock).
//
// A lease belongs to one attempt (calcs.attempt, counted up by each claim). It is renewed by
// the poller's heartbeats and lease-aware calls to now + lease_ms. Once it has run out by more
// than the grace period, the expiry timer ends the calc abnormal, once: the UPDATE re-checks
// that the calc is still in flight at the same attempt with the same lease_until, so a
// heartbeat or a step that commits first wins, and a second run of the timer finds nothing.
import { IN_FLIGHT } from '../../protocol/states.ts';

/** `('sending params', ..., 'getting return')` for SQL. */
export const IN_FLIGHT_SQL = `(${IN_FLIGHT.map((p) => `'${p}'`).join(', ')})`;

/** Renews attempt @attempt's lease; while the calc is unstarted, its claim too. */
export const HEARTBEAT_SQL = `
UPDATE calcs
   SET lease_until = @leaseUntil, heartbeat_at = @now,
       claim_until = CASE WHEN progress = 'not start' THEN MAX(COALESCE(claim_until, 0), @claimUntil) ELSE claim_until END
 WHERE accept_id = @acceptId AND user_id = @userId AND deleted_at IS NULL
   AND attempt = @attempt AND lease_until IS NOT NULL
   AND (progress IN ${IN_FLIGHT_SQL} OR progress = 'not start')
RETURNING *`;

export const LEASES_EXPIRED_SQL = `
SELECT * FROM calcs
 WHERE lease_until IS NOT NULL AND deleted_at IS NULL
   AND lease_until + @graceMs < @now AND progress IN ${IN_FLIGHT_SQL}`;

export const EXPIRE_LEASE_SQL = `
UPDATE calcs
   SET progress = 'got return', status = 'abnormal', reason = @reason, updated_at = @now, lease_until = NULL
 WHERE accept_id = @acceptId AND deleted_at IS NULL AND attempt = @attempt
   AND lease_until = @leaseUntil AND lease_until + @graceMs < @now
   AND progress IN ${IN_FLIGHT_SQL}
RETURNING *`;

/** The server's own downtime does not count against pollers: run at start. */
export const EXTEND_LEASES_SQL = `
UPDATE calcs SET lease_until = @until
 WHERE lease_until IS NOT NULL AND lease_until < @until AND deleted_at IS NULL
   AND progress IN ${IN_FLIGHT_SQL}`;
