// Opens (and creates or migrates) the SQLite database of a data directory.
import Database from 'better-sqlite3';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';

// 1: the first schema. 2: leases (lease_until, heartbeat_at) for lease-aware pollers.
const SCHEMA_VERSION = 2;

/** Steps from one version to the next, run in order inside one transaction. */
const MIGRATIONS: Record<number, string> = {
  2: `ALTER TABLE calcs ADD COLUMN lease_until INTEGER;
      ALTER TABLE calcs ADD COLUMN heartbeat_at INTEGER;`,
};

const SCHEMA = `
CREATE TABLE IF NOT EXISTS users (
  id INTEGER PRIMARY KEY,
  name TEXT NOT NULL UNIQUE,
  password_hash TEXT,
  created_at INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS tokens (
  id TEXT PRIMARY KEY,
  user_id INTEGER NOT NULL REFERENCES users(id),
  token_sha256 TEXT NOT NULL UNIQUE,
  hint TEXT NOT NULL,
  label TEXT,
  created_at INTEGER NOT NULL,
  last_used_at INTEGER,
  revoked_at INTEGER
);
CREATE TABLE IF NOT EXISTS calcs (
  accept_id TEXT PRIMARY KEY,
  user_id INTEGER NOT NULL REFERENCES users(id),
  site TEXT NOT NULL,
  command TEXT NOT NULL,
  parameters TEXT NOT NULL,
  result_names TEXT NOT NULL,
  created_at INTEGER NOT NULL,
  updated_at INTEGER NOT NULL,
  allowed_at INTEGER,
  progress TEXT NOT NULL,
  status TEXT NOT NULL,
  reason TEXT,
  attempt INTEGER NOT NULL DEFAULT 0,
  claim_until INTEGER,
  deleted_at INTEGER,
  delete_reason TEXT,
  -- a lease-aware poller's claim holds the calc until this time (server clock, ms); renewed by
  -- its heartbeats and calls. NULL for claims of deployed pollers, which never heartbeat.
  lease_until INTEGER,
  -- the last heartbeat or lease-aware call (server clock, ms)
  heartbeat_at INTEGER
);
CREATE INDEX IF NOT EXISTS calcs_waiting ON calcs(site, user_id, allowed_at, created_at)
  WHERE deleted_at IS NULL AND progress = 'not start';
CREATE INDEX IF NOT EXISTS calcs_user ON calcs(user_id) WHERE deleted_at IS NULL;
CREATE INDEX IF NOT EXISTS calcs_deleted ON calcs(deleted_at) WHERE deleted_at IS NOT NULL;
CREATE INDEX IF NOT EXISTS calcs_leased ON calcs(lease_until) WHERE lease_until IS NOT NULL AND deleted_at IS NULL;
CREATE TABLE IF NOT EXISTS calc_files (
  accept_id TEXT NOT NULL REFERENCES calcs(accept_id) ON DELETE CASCADE,
  direction TEXT NOT NULL CHECK (direction IN ('in', 'out')),
  name TEXT NOT NULL,
  position INTEGER NOT NULL,
  sha256 TEXT,
  size INTEGER NOT NULL,
  mime1 TEXT NOT NULL,
  mime2 TEXT NOT NULL,
  PRIMARY KEY (accept_id, direction, name)
);
CREATE INDEX IF NOT EXISTS calc_files_sha ON calc_files(sha256);
CREATE TABLE IF NOT EXISTS blob_owners (
  user_id INTEGER NOT NULL REFERENCES users(id),
  sha256 TEXT NOT NULL,
  at INTEGER NOT NULL,
  PRIMARY KEY (user_id, sha256)
);
CREATE TABLE IF NOT EXISTS events (
  id INTEGER PRIMARY KEY,
  accept_id TEXT NOT NULL,
  at INTEGER NOT NULL,
  user_id INTEGER,
  kind TEXT NOT NULL,
  from_progress TEXT,
  to_progress TEXT,
  status TEXT,
  detail TEXT
);
CREATE INDEX IF NOT EXISTS events_calc ON events(accept_id, id);
`;

export interface OpenOptions {
  /**
   * SQLite's synchronous mode. NORMAL (default) survives a killed process in WAL mode;
   * FULL also survives a power cut, at one fsync per commit.
   */
  synchronous?: 'NORMAL' | 'FULL';
}

export function openDatabase(dataDir: string, opts: OpenOptions = {}): Database.Database {
  mkdirSync(dataDir, { recursive: true, mode: 0o700 });
  const db = new Database(join(dataDir, 'distcomp.sqlite'));
  db.pragma('journal_mode = WAL');
  db.pragma(`synchronous = ${opts.synchronous ?? 'NORMAL'}`);
  db.pragma('busy_timeout = 5000');
  db.pragma('foreign_keys = ON');
  // The relay wraps each write in a SAVEPOINT (group commit): SQLite keeps the pages a savepoint
  // may have to restore in a statement journal, which spilled to a temporary file once it passed
  // 64 KiB (~10 extra pwrite calls per protocol cycle under load, and a file created and removed
  // per transaction). Transactions here are small: keep that journal, and temporary tables of
  // sorts, in memory.
  db.pragma('temp_store = MEMORY');
  const version = db.pragma('user_version', { simple: true }) as number;
  if (version > SCHEMA_VERSION) {
    throw new Error(`the database in ${dataDir} has schema version ${version}, newer than this distcomp (${SCHEMA_VERSION})`);
  }
  db.transaction(() => {
    // a database made by an older distcomp: migrate it step by step (an empty one is created whole)
    const hasCalcs = db.prepare(`SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'calcs'`).get() !== undefined;
    if (hasCalcs) {
      for (let v = Math.max(version, 1) + 1; v <= SCHEMA_VERSION; v++) {
        const step = MIGRATIONS[v];
        if (step !== undefined) db.exec(step);
      }
    }
    db.exec(SCHEMA);
    db.pragma(`user_version = ${SCHEMA_VERSION}`);
  }).immediate();
  return db;
}
