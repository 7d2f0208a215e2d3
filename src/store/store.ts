// The one interface to durable state: users, tokens, calcs, their files, and the event
// history. SQLite now (sqlite/), PostgreSQL later; file contents live in the BlobStore.
import type { Progress, Status } from '../protocol/states.ts';

export interface User {
  id: number;
  name: string;
  createdAt: number;
}

export interface TokenRow {
  id: string;
  userId: number;
  userName: string;
  /** First characters of the token, enough to recognise it, never enough to use it. */
  hint: string;
  label: string | null;
  createdAt: number;
  lastUsedAt: number | null;
  revokedAt: number | null;
}

/** Why a calc is no longer visible to clients. */
export type DeleteReason = 'collected' | 'cancelled' | 'purged';

export interface Calc {
  acceptId: string;
  userId: number;
  site: string;
  command: string;
  parameters: string;
  resultNames: string[];
  createdAt: number;
  updatedAt: number;
  /** When the workflow side allowed it (ms since epoch, server clock), or null. */
  allowedAt: number | null;
  progress: Progress;
  status: Status;
  /** Why the calc ended abnormal or was cancelled, when we know. */
  reason: string | null;
  /** How many times a poller has been handed this calc. */
  attempt: number;
  /** A poller's claim from calc-request holds the calc for it until this time. */
  claimUntil: number | null;
  /**
   * A lease-aware poller's claim (ours) holds the calc until this time (server clock, ms),
   * renewed by its heartbeats and calls; null for deployed pollers' claims, which never expire.
   */
  leaseUntil: number | null;
  /** The last heartbeat or lease-aware call of the poller that holds the lease (server clock, ms). */
  heartbeatAt: number | null;
  deletedAt: number | null;
  deleteReason: DeleteReason | null;
}

export interface CalcFile {
  name: string;
  direction: 'in' | 'out';
  /** sha256 of the stored bytes, or null for a file that does not exist (sent as an error entry). */
  sha256: string | null;
  size: number;
  mime1: string;
  mime2: string;
}

export interface NewCalc {
  acceptId: string;
  userId: number;
  site: string;
  command: string;
  parameters: string;
  resultNames: string[];
  inputs: CalcFile[];
}

export interface CalcEvent {
  id: number;
  acceptId: string;
  at: number;
  userId: number | null;
  kind: string;
  fromProgress: string | null;
  toProgress: string | null;
  status: string | null;
  detail: string | null;
}

/** The outcome of a guarded state change: the calc after it, or the calc as found (unchanged). */
export type TransitionResult = { ok: true; calc: Calc } | { ok: false; found: Calc | null };

export interface TransitionRequest {
  acceptId: string;
  userId: number;
  /** The progress values the calc must be in. */
  from: readonly Progress[];
  /** Also allowed from any in-flight progress (sending params .. getting return) when the status is abnormal. */
  orAbnormal?: boolean;
  to: Progress;
  status?: Status;
  reason?: string | null;
  kind: string;
  /** Replace the calc's output files in the same transaction. */
  outputs?: CalcFile[];
  /**
   * A lease-aware call: the calc must be at this attempt (the caller's claim is still its own),
   * and its lease is renewed for `leaseMs`. Recorded in the event's detail.
   */
  lease?: { attempt: number; leaseMs: number };
  /**
   * The calc as the caller read it just before (in the same transaction, or with nothing in
   * between). The change then also requires the calc to still be in that progress, status and
   * attempt (compare-and-set), and the store does not read it again.
   */
  before?: Calc;
}

/** What a heartbeat found: the calc with its lease renewed, or the calc as found (unchanged). */
export type HeartbeatResult = { ok: true; calc: Calc } | { ok: false; found: Calc | null };

export interface Store {
  // users and tokens
  addUser(name: string, passwordHash: string | null): User;
  findUser(name: string): User | null;
  userPasswordHash(name: string): { user: User; hash: string | null } | null;
  setPassword(userId: number, passwordHash: string): void;
  listUsers(): User[];
  /** Stores a token by its sha256 and returns the row; the token itself is never stored. */
  addToken(userId: number, tokenSha256: string, hint: string, label: string | null): TokenRow;
  /** The live (not revoked) token with this hash, and marks it used. */
  useToken(tokenSha256: string): { tokenId: string; user: User } | null;
  listTokens(userName?: string): TokenRow[];
  revokeToken(idOrHint: string): TokenRow[];

  // calcs
  insertCalc(c: NewCalc): Calc;
  /** The calc, if it exists, belongs to this user and is not deleted. */
  getCalc(acceptId: string, userId: number): Calc | null;
  /** The calc as stored, deleted or not, with its owner check applied. */
  getCalcAnyState(acceptId: string, userId: number): Calc | null;
  listCalcs(userId: number): Calc[];
  files(acceptId: string, direction: 'in' | 'out'): CalcFile[];
  allow(acceptId: string, userId: number): TransitionResult;
  /**
   * Hands the oldest allowed, unstarted, unclaimed calc of the site to the caller in one
   * statement: concurrent pollers never get the same calc.
   */
  claimNext(site: string, userId: number, claimMs: number, leaseMs?: number | null): Calc | null;
  /**
   * Renews the lease of attempt `attempt` (not start .. getting return, not deleted) to
   * now + leaseMs; while not started, also the claim to now + claimMs.
   */
  heartbeat(acceptId: string, userId: number, attempt: number, leaseMs: number, claimMs: number): HeartbeatResult;
  /** In-flight leased calcs whose lease ran out more than `graceMs` before `now`. */
  leasesExpired(now: number, graceMs: number): Calc[];
  /**
   * Ends a calc whose lease lapsed as got return / abnormal with an explanation file, in one
   * guarded statement: only if it is still in flight at the same attempt and lease.
   */
  expireLease(c: Calc, graceMs: number, reason: string, stderrFile: CalcFile): boolean;
  /** At server start: leases that ran out while the server was down are extended to `until`. */
  extendLeases(until: number): number;
  /** Records a refused call in the history (a stale lease, a cancelled calc); changes nothing else. */
  recordRefusal(acceptId: string, userId: number, kind: string, detail: Record<string, unknown>): void;
  transition(t: TransitionRequest): TransitionResult;
  /**
   * Marks the calc deleted for clients (collected, cancelled); the history stays. `known`: the
   * calc as the caller just read it (the change is a compare-and-set on its progress and status).
   */
  markDeleted(acceptId: string, userId: number, reason: DeleteReason, onlyIf?: (c: Calc) => boolean, known?: Calc): TransitionResult;
  /** Calcs registered before `before` that never started (for the expiry rule). */
  unstartedBefore(before: number): Calc[];
  /** Ends an unstarted calc as got return / abnormal with an explanation file, if still unstarted. */
  expire(acceptId: string, reason: string, stderrFile: CalcFile): boolean;
  /** Removes calcs deleted before `before` for good; returns blob hashes no longer referenced. */
  purgeDeleted(before: number): string[];
  /** Records that this user uploaded this blob (so the user may refer to it). */
  grantBlob(userId: number, sha256: string): void;
  /** Whether the user uploaded this blob or one of the user's calcs holds it. */
  blobVisibleTo(userId: number, sha256: string): boolean;
  /** Whether any file row refers to this blob. */
  blobInUse(sha256: string): boolean;
  events(acceptId: string): CalcEvent[];
  /**
   * Runs `fn` (synchronous store calls only) as one transaction: all its changes commit
   * together, or none when it throws.
   */
  atomically<T>(fn: () => T): T;
  /**
   * Resolves once every change made so far is committed (at once, unless the store was opened
   * with group commit); an answer that reports a change must wait for it.
   */
  durable(): Promise<void>;
  close(): void;
}
