// The Store on SQLite (better-sqlite3, WAL). Every state change is one guarded UPDATE
// (`WHERE progress IN (...)`) in a transaction with its event row: a late or duplicate
// call finds the wrong state and changes nothing.
//
// Transactions (group-commit.ts): a change made inside atomically() joins it directly, with no
// savepoint of its own, since a guarded statement that finds the wrong state changes nothing and
// anything that throws rolls the whole write back. A micro run of one combined cycle's store
// work (2-core VM) fell from 1.2-1.45 ms to ~0.95 ms with this and one wrapper made once.
import type Database from 'better-sqlite3';
import { randomBytes } from 'node:crypto';
import { IN_FLIGHT, type Progress, type Status } from '../../protocol/states.ts';
import type {
  Calc, CalcEvent, CalcFile, DeleteReason, HeartbeatResult, NewCalc, Store, TokenRow, TransitionRequest, TransitionResult, User,
} from '../store.ts';
import { CLAIM_NEXT_SQL } from './claim-next.ts';
import { EXPIRE_LEASE_SQL, EXTEND_LEASES_SQL, HEARTBEAT_SQL, LEASES_EXPIRED_SQL } from './leases.ts';
import { openDatabase, type OpenOptions } from './open-database.ts';
import { CommitEachWrite, CommitPerTurn, type WriteBatching } from './group-commit.ts';

interface CalcRow {
  accept_id: string; user_id: number; site: string; command: string; parameters: string; result_names: string;
  created_at: number; updated_at: number; allowed_at: number | null; progress: string; status: string;
  reason: string | null; attempt: number; claim_until: number | null; deleted_at: number | null; delete_reason: string | null;
  lease_until: number | null; heartbeat_at: number | null;
}
interface FileRow { name: string; direction: 'in' | 'out'; sha256: string | null; size: number; mime1: string; mime2: string }
interface UserRow { id: number; name: string; created_at: number; password_hash?: string | null }
interface TokenDbRow {
  id: string; user_id: number; user_name: string; hint: string; label: string | null;
  created_at: number; last_used_at: number | null; revoked_at: number | null;
}

const toCalc = (r: CalcRow): Calc => ({
  acceptId: r.accept_id, userId: r.user_id, site: r.site, command: r.command, parameters: r.parameters,
  resultNames: JSON.parse(r.result_names) as string[], createdAt: r.created_at, updatedAt: r.updated_at,
  allowedAt: r.allowed_at, progress: r.progress as Progress, status: r.status as Status, reason: r.reason,
  attempt: r.attempt, claimUntil: r.claim_until, leaseUntil: r.lease_until, heartbeatAt: r.heartbeat_at, deletedAt: r.deleted_at, deleteReason: r.delete_reason as DeleteReason | null,
});
const toUser = (r: UserRow): User => ({ id: r.id, name: r.name, createdAt: r.created_at });
const toToken = (r: TokenDbRow): TokenRow => ({
  id: r.id, userId: r.user_id, userName: r.user_name, hint: r.hint, label: r.label,
  createdAt: r.created_at, lastUsedAt: r.last_used_at, revokedAt: r.revoked_at,
});

export class SqliteStore implements Store {
  readonly db: Database.Database;
  private readonly now: () => number;
  private readonly st;
  private readonly transitionSql = new Map<string, Database.Statement>();
  /** How writes are committed: one transaction each, or per turn of the event loop (group-commit.ts). */
  private readonly writes: WriteBatching;

  constructor(dataDir: string, opts: OpenOptions & {
    now?: () => number;
    /**
     * Group commit (the relay): the writes of one turn of the event loop share a transaction,
     * and durable() says when it is committed; every answer must wait for it. @default false
     */
    groupCommit?: boolean;
  } = {}) {
    this.db = openDatabase(dataDir, opts);
    this.now = opts.now ?? Date.now;
    this.writes = opts.groupCommit ? new CommitPerTurn(this.db) : new CommitEachWrite(this.db);
    const p = (sql: string) => this.db.prepare(sql);
    this.st = {
      getCalc: p('SELECT * FROM calcs WHERE accept_id = ? AND user_id = ? AND deleted_at IS NULL'),
      getCalcAny: p('SELECT * FROM calcs WHERE accept_id = ? AND user_id = ?'),
      listCalcs: p('SELECT * FROM calcs WHERE user_id = ? AND deleted_at IS NULL ORDER BY created_at'),
      files: p('SELECT name, direction, sha256, size, mime1, mime2 FROM calc_files WHERE accept_id = ? AND direction = ? ORDER BY position'),
      insertCalc: p(`INSERT INTO calcs (accept_id, user_id, site, command, parameters, result_names, created_at, updated_at, progress, status)
                     VALUES (@acceptId, @userId, @site, @command, @parameters, @resultNames, @now, @now, 'not start', 'none') RETURNING *`),
      insertFile: p(`INSERT INTO calc_files (accept_id, direction, name, position, sha256, size, mime1, mime2)
                     VALUES (@acceptId, @direction, @name, @position, @sha256, @size, @mime1, @mime2)`),
      deleteOutFiles: p(`DELETE FROM calc_files WHERE accept_id = ? AND direction = 'out'`),
      event: p(`INSERT INTO events (accept_id, at, user_id, kind, from_progress, to_progress, status, detail)
                VALUES (@acceptId, @at, @userId, @kind, @from, @to, @status, @detail)`),
      allow: p(`UPDATE calcs SET allowed_at = @now, updated_at = @now
                 WHERE accept_id = @acceptId AND user_id = @userId AND deleted_at IS NULL
                   AND allowed_at IS NULL AND progress = 'not start' RETURNING *`),
      claim: p(CLAIM_NEXT_SQL),
      heartbeat: p(HEARTBEAT_SQL),
      leasesExpired: p(LEASES_EXPIRED_SQL),
      expireLease: p(EXPIRE_LEASE_SQL),
      extendLeases: p(EXTEND_LEASES_SQL),
      markDeleted: p(`UPDATE calcs SET deleted_at = @now, delete_reason = @reason, updated_at = @now
                       WHERE accept_id = @acceptId AND user_id = @userId AND deleted_at IS NULL
                         AND progress = @progress AND status = @status RETURNING *`),
      unstartedBefore: p(`SELECT * FROM calcs WHERE deleted_at IS NULL AND progress = 'not start' AND created_at < ?`),
      expire: p(`UPDATE calcs SET progress = 'got return', status = 'abnormal', reason = @reason, updated_at = @now
                  WHERE accept_id = @acceptId AND deleted_at IS NULL AND progress = 'not start' RETURNING *`),
      deletedBefore: p('SELECT accept_id FROM calcs WHERE deleted_at IS NOT NULL AND deleted_at < ?'),
      blobsOf: p('SELECT DISTINCT sha256 FROM calc_files WHERE accept_id = ? AND sha256 IS NOT NULL'),
      blobUsed: p('SELECT 1 FROM calc_files WHERE sha256 = ? UNION ALL SELECT 1 FROM blob_owners WHERE sha256 = ? LIMIT 1'),
      grantBlob: p('INSERT INTO blob_owners (user_id, sha256, at) VALUES (?, ?, ?) ON CONFLICT (user_id, sha256) DO UPDATE SET at = excluded.at'),
      blobVisible: p(`SELECT 1 FROM blob_owners WHERE user_id = @userId AND sha256 = @sha
                      UNION ALL SELECT 1 FROM calc_files f JOIN calcs c ON c.accept_id = f.accept_id
                       WHERE f.sha256 = @sha AND c.user_id = @userId AND (c.deleted_at IS NULL OR c.delete_reason = 'collected') LIMIT 1`),
      deleteCalc: p('DELETE FROM calcs WHERE accept_id = ?'),
      events: p('SELECT * FROM events WHERE accept_id = ? ORDER BY id'),
      addUser: p('INSERT INTO users (name, password_hash, created_at) VALUES (?, ?, ?) RETURNING id, name, created_at'),
      findUser: p('SELECT id, name, created_at, password_hash FROM users WHERE name = ?'),
      setPassword: p('UPDATE users SET password_hash = ? WHERE id = ?'),
      listUsers: p('SELECT id, name, created_at FROM users ORDER BY name'),
      addToken: p(`INSERT INTO tokens (id, user_id, token_sha256, hint, label, created_at) VALUES (?, ?, ?, ?, ?, ?)`),
      useToken: p(`UPDATE tokens SET last_used_at = ? WHERE token_sha256 = ? AND revoked_at IS NULL
                   RETURNING id, user_id`),
      userById: p('SELECT id, name, created_at FROM users WHERE id = ?'),
      listTokens: p(`SELECT t.id, t.user_id, u.name AS user_name, t.hint, t.label, t.created_at, t.last_used_at, t.revoked_at
                       FROM tokens t JOIN users u ON u.id = t.user_id ORDER BY t.created_at`),
      revoke: p(`UPDATE tokens SET revoked_at = ? WHERE (id = @key OR hint = @key) AND revoked_at IS NULL RETURNING id`),
    };
  }

  private event(acceptId: string, userId: number | null, kind: string, from: string | null, to: string | null, status: string | null, detail: string | null = null): void {
    this.st.event.run({ acceptId, at: this.now(), userId, kind, from, to, status, detail });
  }

  // -- users and tokens
  addUser(name: string, passwordHash: string | null): User {
    return toUser(this.st.addUser.get(name, passwordHash, this.now()) as UserRow);
  }
  findUser(name: string): User | null {
    const r = this.st.findUser.get(name) as UserRow | undefined;
    return r ? toUser(r) : null;
  }
  userPasswordHash(name: string): { user: User; hash: string | null } | null {
    const r = this.st.findUser.get(name) as UserRow | undefined;
    return r ? { user: toUser(r), hash: r.password_hash ?? null } : null;
  }
  setPassword(userId: number, passwordHash: string): void {
    this.st.setPassword.run(passwordHash, userId);
  }
  listUsers(): User[] {
    return (this.st.listUsers.all() as UserRow[]).map(toUser);
  }
  addToken(userId: number, tokenSha256: string, hint: string, label: string | null): TokenRow {
    const id = `tok_${randomBytes(6).toString('hex')}`;
    this.st.addToken.run(id, userId, tokenSha256, hint, label, this.now());
    const row = this.listTokens().find((t) => t.id === id);
    if (!row) throw new Error('token row vanished after insert');
    return row;
  }
  useToken(tokenSha256: string): { tokenId: string; user: User } | null {
    const r = this.st.useToken.get(this.now(), tokenSha256) as { id: string; user_id: number } | undefined;
    if (!r) return null;
    const u = this.st.userById.get(r.user_id) as UserRow | undefined;
    return u ? { tokenId: r.id, user: toUser(u) } : null;
  }
  listTokens(userName?: string): TokenRow[] {
    const all = (this.st.listTokens.all() as TokenDbRow[]).map(toToken);
    return userName === undefined ? all : all.filter((t) => t.userName === userName);
  }
  revokeToken(idOrHint: string): TokenRow[] {
    const ids = new Set((this.st.revoke.all(this.now(), { key: idOrHint }) as { id: string }[]).map((r) => r.id));
    return this.listTokens().filter((t) => ids.has(t.id));
  }

  // -- calcs
  /** Runs `fn` as one all-or-nothing write, or as part of the one already running (atomically()). */
  private write<T>(fn: () => T): T {
    return this.writes.write(fn);
  }

  durable(): Promise<void> {
    return this.writes.durable();
  }

  insertCalc(c: NewCalc): Calc {
    return this.write(() => {
      const now = this.now();
      const r = this.st.insertCalc.get({
        acceptId: c.acceptId, userId: c.userId, site: c.site, command: c.command, parameters: c.parameters,
        resultNames: JSON.stringify(c.resultNames), now,
      }) as CalcRow;
      c.inputs.forEach((f, position) => this.st.insertFile.run({ acceptId: c.acceptId, position, ...f, direction: 'in' }));
      this.event(c.acceptId, c.userId, 'registered', null, 'not start', 'none', JSON.stringify({ site: c.site, command: c.command }));
      return toCalc(r);
    });
  }

  getCalc(acceptId: string, userId: number): Calc | null {
    const r = this.st.getCalc.get(acceptId, userId) as CalcRow | undefined;
    return r ? toCalc(r) : null;
  }
  getCalcAnyState(acceptId: string, userId: number): Calc | null {
    const r = this.st.getCalcAny.get(acceptId, userId) as CalcRow | undefined;
    return r ? toCalc(r) : null;
  }
  listCalcs(userId: number): Calc[] {
    return (this.st.listCalcs.all(userId) as CalcRow[]).map(toCalc);
  }
  files(acceptId: string, direction: 'in' | 'out'): CalcFile[] {
    return this.st.files.all(acceptId, direction) as FileRow[];
  }

  allow(acceptId: string, userId: number): TransitionResult {
    return this.write((): TransitionResult => {
      const r = this.st.allow.get({ acceptId, userId, now: this.now() }) as CalcRow | undefined;
      if (!r) return { ok: false, found: this.getCalc(acceptId, userId) };
      this.event(acceptId, userId, 'allowed', 'not start', 'not start', r.status);
      return { ok: true, calc: toCalc(r) };
    });
  }

  claimNext(site: string, userId: number, claimMs: number, leaseMs: number | null = null): Calc | null {
    return this.write((): Calc | null => {
      const now = this.now();
      const r = this.st.claim.get({ site, userId, now, until: now + claimMs, leaseUntil: leaseMs === null ? null : now + leaseMs }) as CalcRow | undefined;
      if (!r) return null;
      this.event(r.accept_id, userId, 'claimed', r.progress, r.progress, r.status, JSON.stringify({ attempt: r.attempt, lease: leaseMs !== null }));
      return toCalc(r);
    });
  }

  heartbeat(acceptId: string, userId: number, attempt: number, leaseMs: number, claimMs: number): HeartbeatResult {
    const now = this.now();
    const r = this.st.heartbeat.get({ acceptId, userId, attempt, now, leaseUntil: now + leaseMs, claimUntil: now + claimMs }) as CalcRow | undefined;
    if (r) return { ok: true, calc: toCalc(r) };
    return { ok: false, found: this.getCalcAnyState(acceptId, userId) };
  }

  leasesExpired(now: number, graceMs: number): Calc[] {
    return (this.st.leasesExpired.all({ now, graceMs }) as CalcRow[]).map(toCalc);
  }

  expireLease(c: Calc, graceMs: number, reason: string, stderrFile: CalcFile): boolean {
    return this.write((): boolean => {
      const now = this.now();
      const r = this.st.expireLease.get({ acceptId: c.acceptId, attempt: c.attempt, leaseUntil: c.leaseUntil, reason, now, graceMs }) as CalcRow | undefined;
      if (!r) return false;
      this.st.deleteOutFiles.run(c.acceptId);
      this.st.insertFile.run({ acceptId: c.acceptId, position: 0, ...stderrFile, direction: 'out' });
      this.event(c.acceptId, null, 'lease-expired', c.progress, 'got return', 'abnormal', JSON.stringify({ attempt: c.attempt, reason }));
      return true;
    });
  }

  extendLeases(until: number): number {
    return this.st.extendLeases.run({ until }).changes;
  }

  recordRefusal(acceptId: string, userId: number, kind: string, detail: Record<string, unknown>): void {
    const c = this.getCalcAnyState(acceptId, userId);
    // only the owner's existing calcs get history rows: an unknown id must not grow the table
    if (c) this.event(acceptId, userId, kind, c.progress, c.progress, c.status, JSON.stringify(detail));
  }

  transition(t: TransitionRequest): TransitionResult {
    const from = [...t.from];
    // a lease-aware call also requires its attempt (the claim is still its own) and renews the lease
    // given the calc as the caller just read it, the update is also a compare-and-set on its
    // progress, status and attempt (so the history's `from` is exact) and needs no read of its own
    const known = t.before;
    const sql = `UPDATE calcs SET progress = ?, status = COALESCE(?, status), reason = COALESCE(?, reason), updated_at = ?${t.lease
      ? ', lease_until = CASE WHEN lease_until IS NULL THEN NULL ELSE ? END, heartbeat_at = CASE WHEN lease_until IS NULL THEN heartbeat_at ELSE ? END' : ''}
                  WHERE accept_id = ? AND user_id = ? AND deleted_at IS NULL${t.lease ? ' AND attempt = ?' : ''}
                    AND (progress IN (${from.map(() => '?').join(', ')})${t.orAbnormal ? ` OR (status = 'abnormal' AND progress IN (${IN_FLIGHT.map((x) => `'${x}'`).join(', ')}))` : ''})
                    ${known ? 'AND progress = ? AND status = ? AND attempt = ?' : ''}
                  RETURNING *`;
    return this.write((): TransitionResult => {
      const before = known ?? this.getCalc(t.acceptId, t.userId);
      let stmt = this.transitionSql.get(sql);
      if (!stmt) this.transitionSql.set(sql, (stmt = this.db.prepare(sql)));
      const now = this.now();
      const leaseArgs = t.lease ? [now + t.lease.leaseMs, now] : [];
      const attemptArg = t.lease ? [t.lease.attempt] : [];
      const casArgs = known ? [known.progress, known.status, known.attempt] : [];
      const r = stmt.get(t.to, t.status ?? null, t.reason ?? null, now, ...leaseArgs, t.acceptId, t.userId, ...attemptArg, ...from, ...casArgs) as CalcRow | undefined;
      if (!r || !before) return { ok: false, found: known ? this.getCalc(t.acceptId, t.userId) : before };
      if (t.outputs) {
        this.st.deleteOutFiles.run(t.acceptId);
        t.outputs.forEach((f, position) => this.st.insertFile.run({ acceptId: t.acceptId, position, ...f, direction: 'out' }));
      }
      const detail = t.lease ? JSON.stringify({ attempt: t.lease.attempt, ...(t.reason ? { reason: t.reason } : {}) }) : t.reason ?? null;
      this.event(t.acceptId, t.userId, t.kind, before.progress, r.progress, r.status, detail);
      return { ok: true, calc: toCalc(r) };
    });
  }

  markDeleted(acceptId: string, userId: number, reason: DeleteReason, onlyIf?: (c: Calc) => boolean, known?: Calc): TransitionResult {
    return this.write((): TransitionResult => {
      const before = known ?? this.getCalc(acceptId, userId);
      if (!before || (onlyIf && !onlyIf(before))) return { ok: false, found: before };
      const r = this.st.markDeleted.get({ acceptId, userId, reason, now: this.now(), progress: before.progress, status: before.status }) as CalcRow | undefined;
      if (!r) return { ok: false, found: before };
      // the history's terminal events are: got return, expired, lease-expired, cancelled. A forced
      // cancel of a calc that already ended only discards its results: not a second end.
      const kind = reason === 'cancelled' && before.progress === 'got return' ? 'discarded' : reason;
      this.event(acceptId, userId, kind, before.progress, before.progress, before.status);
      return { ok: true, calc: toCalc(r) };
    });
  }

  unstartedBefore(before: number): Calc[] {
    return (this.st.unstartedBefore.all(before) as CalcRow[]).map(toCalc);
  }

  expire(acceptId: string, reason: string, stderrFile: CalcFile): boolean {
    return this.write((): boolean => {
      const r = this.st.expire.get({ acceptId, reason, now: this.now() }) as CalcRow | undefined;
      if (!r) return false;
      this.st.deleteOutFiles.run(acceptId);
      this.st.insertFile.run({ acceptId, position: 0, ...stderrFile, direction: 'out' });
      this.event(acceptId, null, 'expired', 'not start', 'got return', 'abnormal', reason);
      return true;
    });
  }

  purgeDeleted(before: number): string[] {
    return this.write((): string[] => {
      const ids = (this.st.deletedBefore.all(before) as { accept_id: string }[]).map((r) => r.accept_id);
      const blobs = new Set<string>();
      for (const id of ids) {
        for (const b of this.st.blobsOf.all(id) as { sha256: string }[]) blobs.add(b.sha256);
        this.st.deleteCalc.run(id);
        this.event(id, null, 'purged', null, null, null);
      }
      return [...blobs].filter((sha) => this.st.blobUsed.get(sha, sha) === undefined);
    });
  }

  blobInUse(sha256: string): boolean {
    return this.st.blobUsed.get(sha256, sha256) !== undefined;
  }

  grantBlob(userId: number, sha256: string): void {
    this.st.grantBlob.run(userId, sha256, this.now());
  }

  blobVisibleTo(userId: number, sha256: string): boolean {
    return this.st.blobVisible.get({ userId, sha: sha256 }) !== undefined;
  }

  events(acceptId: string): CalcEvent[] {
    return (this.st.events.all(acceptId) as Record<string, unknown>[]).map((r) => ({
      id: r['id'] as number, acceptId: r['accept_id'] as string, at: r['at'] as number, userId: r['user_id'] as number | null,
      kind: r['kind'] as string, fromProgress: r['from_progress'] as string | null, toProgress: r['to_progress'] as string | null,
      status: r['status'] as string | null, detail: r['detail'] as string | null,
    }));
  }

  atomically<T>(fn: () => T): T {
    // the store's own changes inside join this transaction (see write())
    return this.write(fn);
  }

  close(): void {
    this.writes.flush();
    this.db.close();
  }
}
