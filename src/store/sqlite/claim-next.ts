// Claiming a calc for a poller: one UPDATE ... RETURNING, so that any number of pollers of one
// site never get the same calc. The inner SELECT picks the oldest allowed, unstarted calc
// whose previous claim (if any) has lapsed; the outer WHERE re-checks the claim, so the
// statement stays correct even if SQLite ever ran it concurrently. A lease-aware poller's
// claim also starts its lease (@leaseUntil); a deployed poller's claim clears any lease of an
// earlier attempt (@leaseUntil NULL), since that poller will never heartbeat.
export const CLAIM_NEXT_SQL = `
UPDATE calcs
   SET claim_until = @until, attempt = attempt + 1, updated_at = @now,
       lease_until = @leaseUntil, heartbeat_at = CASE WHEN @leaseUntil IS NULL THEN NULL ELSE @now END
 WHERE accept_id = (
         SELECT accept_id FROM calcs
          WHERE site = @site AND user_id = @userId AND deleted_at IS NULL
            AND progress = 'not start' AND allowed_at IS NOT NULL
            AND (claim_until IS NULL OR claim_until <= @now)
          ORDER BY allowed_at, created_at
          LIMIT 1)
   AND deleted_at IS NULL AND progress = 'not start'
   AND (claim_until IS NULL OR claim_until <= @now)
RETURNING *`;
