// The per-calc journal that makes the agent's restarts safe: a small file in the calc's working
// directory to which each step appends the calc's whole state as one JSON line, so that an agent
// killed at any moment (kill -9) finds, on restart, how far each calc got: the last whole line
// is the state. The one rule it exists for: a command whose journal says it may have started is
// never started again. What the relay has not acknowledged is sent again; a step the relay
// already took is recognised by the state it names in its refusal (see process-calc.ts).
//
// Why appends and not a rewrite (temp file, rename over the old one), as before 2026-12: on this
// VM's ext4 (auto_da_alloc), a rename over an existing file starts the new file's writeback
// inside the rename: 0.7 ms at the median and 2.4 ms at p90 per step, measured, and two such
// steps lay between a calc's claim and its command's start. An append of ~0.7 KB to an open
// file is ~0.02 ms. The guarantee is the same: a record is whole or ignored (a kill -9 can cut a
// write only where it crosses a page; each record starts on a new line, so the next record still
// parses after a cut one), and a record may be lost on power loss as an unfsynced rename could
// be (see below why nothing is fsynced).
import { closeSync, lstatSync, openSync, constants as C, readdirSync, readFileSync, writeSync } from 'node:fs';
import { join } from 'node:path';

export const JOURNAL_FILE = '.distcomp-journal.json';

export const UUID_RE = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/**
 * How far a calc got, in order. Each phase means "everything before it is done and
 * acknowledged by the relay where the relay is involved".
 * - claimed: calc-request handed it to us; the working directory exists. Recorded only before a
 *   call that moves the calc on the relay or a download; when the calc-info came with the claim
 *   and its inputs are inline, the first record is `params` (its history still starts `claimed`).
 * - params: calc-params answered; calc-info kept below; input files written (or the calc refused).
 * - starting: calc-params-complete and calc-start acknowledged; the command is about to be spawned.
 *   From here on the command is never spawned again.
 * - running: the command was spawned (pid recorded).
 * - exited: the command ended (or was never run); the outcome below is final.
 * - ended: calc-end acknowledged (or, with `endWithResults`, to be sent with the results).
 * - sent: send-results acknowledged.  - done: end-send acknowledged.
 * - abandoned: the relay no longer knows the calc (cancelled by its workflow side), or no longer
 *   counts this agent's lease (it ended the calc while the agent was cut off): nothing more is sent.
 */
export const PHASES = ['claimed', 'params', 'starting', 'running', 'exited', 'ended', 'sent', 'done', 'abandoned'] as const;
export type Phase = (typeof PHASES)[number];

export interface CalcOutcome {
  /** What calc-end reports. */
  result: 'calc end' | 'abnormal';
  /** Why it is abnormal (also written to the stderr file), null when completed. */
  reason: string | null;
  exitCode: number | null;
  signal: string | null;
}

export interface JournalData {
  version: 1;
  acceptId: string;
  siteId: string;
  /** The relay this calc came from (`scheme://host:port`). */
  origin: string;
  attempt: number | null;
  /** The claim is a lease (ours): heartbeats go on and every call names `attempt`. Absent/null: a deployed relay. */
  lease?: { heartbeatMs: number } | null;
  phase: Phase;
  /** The agent process working on it (so that a second agent on the same calc_base leaves it alone). */
  agentPid: number;
  /** What calc-params said, once known. */
  calc?: { command: string; parameters: string; resultNames: string[] };
  /** Why this computer refuses to run the calc (set before `starting`), or null. */
  refusal?: string | null;
  pid?: number;
  outcome?: CalcOutcome;
  /** The calc-info came with the claim (ours, `combined`): calc-params' step is still to be taken. */
  paramsWithClaim?: boolean;
  /** calc-end is to go with send-results (ours, `combined`), not on its own. */
  endWithResults?: boolean;
  history: { phase: Phase; at: string }[];
}

export function journalPath(workdir: string): string {
  return join(workdir, JOURNAL_FILE);
}

// No record is fsynced. The page cache survives a killed process, so the journal is exact after
// `kill -9`; fsync would only matter after a power loss, and there it bought nothing sound: until
// 2026-12 `exited` was fdatasync'ed (~2.7 ms on ext4 here, between the command's end and its
// results going up), but the command's output files were not, so after a power loss the agent
// would have sent as `calc end` results that may be empty or cut. Without it, a power loss leaves
// the journal at `running` at worst, and a restarted agent reports the calc abnormal ("restarted
// while the command was running ... not run again"): never a rerun, never silently wrong results.

/** Appends the calc's state as one record (a newline, then one line of JSON); see the top of the file. */
export function writeJournal(workdir: string, data: JournalData): void {
  const fd = openSync(journalPath(workdir), C.O_WRONLY | C.O_CREAT | C.O_APPEND | C.O_NOFOLLOW, 0o600);
  try {
    const rec = Buffer.from(`\n${JSON.stringify(data)}`);
    let off = 0;
    while (off < rec.length) off += writeSync(fd, rec, off, rec.length - off);
  } finally {
    closeSync(fd);
  }
}

/** Moves the journal to `phase` (adding `patch`) and writes it. */
export function advance(workdir: string, data: JournalData, phase: Phase, patch: Partial<JournalData> = {}): JournalData {
  const next: JournalData = { ...data, ...patch, phase, history: [...data.history, { phase, at: new Date().toISOString() }] };
  writeJournal(workdir, next);
  return next;
}

/** A new calc's journal at `claimed`, in memory: the walk writes it before its first call that moves the calc (process-calc.ts). */
export function startJournal(d: { acceptId: string; siteId: string; origin: string; attempt: number | null; lease?: { heartbeatMs: number } | null }): JournalData {
  return { version: 1, ...d, phase: 'claimed', agentPid: process.pid, history: [{ phase: 'claimed', at: new Date().toISOString() }] };
}

function isJournal(j: unknown): j is JournalData {
  if (typeof j !== 'object' || j === null) return false;
  const o = j as Partial<JournalData>;
  return o.version === 1 && typeof o.acceptId === 'string' && (PHASES as readonly string[]).includes(o.phase as string) && Array.isArray(o.history);
}

/**
 * The state in a journal's text: the last record that parses whole (a record cut by a kill or a
 * power loss is skipped). A journal of the earlier format is one JSON document, pretty-printed.
 */
function lastRecord(text: string): JournalData | null {
  const lines = text.split('\n');
  for (let i = lines.length - 1; i >= 0; i--) {
    const line = lines[i] as string;
    if (!line.startsWith('{')) continue;
    try {
      const j: unknown = JSON.parse(line);
      if (isJournal(j)) return j;
    } catch {
      // a cut record, or a line of the earlier format
    }
  }
  try {
    const j: unknown = JSON.parse(text);
    return isJournal(j) ? j : null;
  } catch {
    return null;
  }
}

/** Reads a journal without following a symlink; null when absent or unreadable. */
export function readJournal(workdir: string): JournalData | null {
  let fd: number;
  try {
    fd = openSync(journalPath(workdir), C.O_RDONLY | C.O_NOFOLLOW);
  } catch {
    return null;
  }
  try {
    return lastRecord(readFileSync(fd, 'utf8'));
  } catch {
    return null;
  } finally {
    closeSync(fd);
  }
}

export function isFinished(j: JournalData): boolean {
  return j.phase === 'done' || j.phase === 'abandoned';
}

function alive(pid: number): boolean {
  if (pid === process.pid) return true;
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** The working directories (`<calc_base>/<uuid>`, real directories only) that hold a journal. */
export function scanJournals(calcBase: string): { workdir: string; journal: JournalData }[] {
  const out: { workdir: string; journal: JournalData }[] = [];
  let names: string[];
  try {
    names = readdirSync(calcBase);
  } catch {
    return out;
  }
  for (const name of names) {
    if (!UUID_RE.test(name)) continue;
    const workdir = join(calcBase, name);
    try {
      if (!lstatSync(workdir).isDirectory()) continue;
    } catch {
      continue;
    }
    const journal = readJournal(workdir);
    if (journal && journal.acceptId === name) out.push({ workdir, journal });
  }
  return out;
}

/**
 * Calcs this agent should resume: unfinished, of this site and relay, and not being worked on
 * by another live agent process.
 */
export function unfinishedCalcs(calcBase: string, siteId: string, origin: string): { workdir: string; journal: JournalData }[] {
  return scanJournals(calcBase).filter(({ journal: j }) =>
    !isFinished(j) && j.siteId === siteId && j.origin === origin && (j.agentPid === process.pid || !alive(j.agentPid)));
}
