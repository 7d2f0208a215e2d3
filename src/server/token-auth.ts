// API tokens: 64 hex characters, random; only their sha256 is stored. Lookups are cached
// for a short time so that a busy poller does not write `last_used_at` on every request;
// a revoked token stops working within `cacheMs`.
import { createHash, randomBytes } from 'node:crypto';
import type { Store, User } from '../store/store.ts';

export const TOKEN_PATTERN = /^[0-9a-f]{64}$/;

export function newToken(): string {
  return randomBytes(32).toString('hex');
}

export function tokenSha256(token: string): string {
  return createHash('sha256').update(token, 'utf8').digest('hex');
}

/** What may be shown of a token: its first 6 characters. */
export function tokenHint(token: string): string {
  return token.slice(0, 6);
}

/** Moved to protocol/ so that clients share it (the agent must not import server/). */
export { maskToken } from '../protocol/token-mask.ts';

export class TokenAuth {
  private readonly cache = new Map<string, { user: User | null; until: number }>();
  constructor(private readonly store: Store, private readonly cacheMs = 2000) {}

  /** The user of a bearer token, or null. Accepts only well-formed tokens. */
  userOf(authorization: string | undefined): User | null {
    if (!authorization) return null;
    const m = /^Bearer\s+(\S+)\s*$/i.exec(authorization);
    const token = m?.[1];
    if (!token || !TOKEN_PATTERN.test(token.toLowerCase())) return null;
    const sha = tokenSha256(token.toLowerCase());
    const now = Date.now();
    const hit = this.cache.get(sha);
    if (hit && hit.until > now) return hit.user;
    const found = this.store.useToken(sha);
    const user = found?.user ?? null;
    if (this.cache.size > 10_000) this.cache.clear();
    this.cache.set(sha, { user, until: now + this.cacheMs });
    return user;
  }
}
