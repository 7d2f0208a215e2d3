// The fault-injection rig: the real relay (a process), real agents (processes) that reach it
// only through a TcpProxy of ours, a workflow-side client that talks to the relay directly,
// test commands (/bin/sh scripts, run without a shell by the agent) that append their calc's
// accept_id to a run counter file outside the working directories, and a sentinel tree. After
// a fault, check() reads the relay's append-only history (the events table, SQLite opened
// read-only) and asserts the invariants of issue 7:
//   - every calc has at most one terminal event (exactly one for those expected to end):
//     end-send (got return), expired, lease-expired, cancelled;
//   - no remote-side step was accepted after the calc's end, and every accepted step named the
//     attempt of the calc's latest claim (no stale result accepted);
//   - no command ran more often than its calc was claimed, nor more than once; a completed calc's
//     command ran exactly once;
//   - nothing outside the working directories changed (sentinel tree, scripts, rules).
import assert from 'node:assert/strict';
import Database from 'better-sqlite3';
import { createHash } from 'node:crypto';
import { existsSync, lstatSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { ProtocolFailure } from '../../src/client/client-errors.ts';
import { isCancelled, type RelayClient } from '../../src/client/relay-client.ts';
import { AgentProcess, Scratch, calcInfo, workflowClient } from './agent-process.ts';
import { RelayProcess } from './relay-process.ts';
import { TcpProxy } from './tcp-proxy.ts';

export const SITE = 'faults';
const SH = '/bin/sh';

export interface RigOptions {
  /** [Server] lease_seconds. @default 1 */
  leaseS?: number;
  /** [Server] lease_grace_seconds. @default 2 */
  graceS?: number;
  server?: Record<string, string>;
}

export interface EventRow { id: number; accept_id: string; at: number; kind: string; from_progress: string | null; to_progress: string | null; status: string | null; detail: string | null }
export interface CalcRow { accept_id: string; progress: string; status: string; attempt: number; reason: string | null; delete_reason: string | null }

const TERMINAL = new Set(['end-send', 'expired', 'lease-expired', 'cancelled']);
const STEPS = new Set(['calc-params', 'calc-params-complete', 'calc-start', 'calc-end', 'send-results', 'end-send']);

export function snapshot(root: string, skip: (rel: string) => boolean): Map<string, string> {
  const out = new Map<string, string>();
  const walk = (dir: string): void => {
    for (const name of readdirSync(dir)) {
      const p = join(dir, name);
      const rel = relative(root, p);
      if (skip(rel)) continue;
      const st = lstatSync(p);
      if (st.isDirectory()) {
        out.set(rel, `dir ${st.mode}`);
        walk(p);
      } else {
        out.set(rel, `${st.mode} ${st.size} ${createHash('sha256').update(readFileSync(p)).digest('hex')}`);
      }
    }
  };
  walk(root);
  return out;
}

export class FaultRig {
  readonly s = new Scratch();
  readonly calcBase = this.s.path('calcs');
  readonly counter = this.s.path('runs.txt');
  readonly agents: AgentProcess[] = [];
  relay!: RelayProcess;
  proxy!: TcpProxy;
  wf!: RelayClient;
  rules!: string;
  private before!: Map<string, string>;

  static async start(o: RigOptions = {}): Promise<FaultRig> {
    const r = new FaultRig();
    mkdirSync(r.calcBase);
    mkdirSync(r.s.path('sentinel', 'deep'), { recursive: true });
    writeFileSync(r.s.path('sentinel', 'a.txt'), 'do not touch\n');
    writeFileSync(r.s.path('sentinel', 'deep', 'b.bin'), Buffer.alloc(1000, 7));
    writeFileSync(r.counter, '');
    r.rules = r.s.rules({ allowed_commands: [SH] });
    r.relay = await RelayProcess.start({
      sites: { [SITE]: { commands: [SH] } },
      server: {
        lease_seconds: String(o.leaseS ?? 1), lease_grace_seconds: String(o.graceS ?? 2),
        rate_limit_per_minute: '0', ...o.server,
      },
    });
    r.proxy = await TcpProxy.start(r.relay.port);
    r.wf = workflowClient(r.relay.url, r.relay.token());
    r.before = r.snapshot();
    return r;
  }

  private snapshot(): Map<string, string> {
    return snapshot(this.s.dir, (rel) => rel === 'calcs' || rel.startsWith('calcs/') || rel === 'runs.txt' || rel.startsWith('agent-'));
  }

  /** An agent that reaches the relay through the proxy. */
  startAgent(extra: string[] = [], calcBase = this.calcBase): AgentProcess {
    const a = new AgentProcess([SITE, this.proxy.url, `calc_base:${calcBase}`, 'retry:600,0.1', '--rules', this.rules, '--kill-grace', '1', '--wait', '2', '--blob-min-bytes', String(64 * 1024), ...extra],
      { env: { ...process.env, DISTCOMP_TOKEN: this.relay.token() } });
    this.agents.push(a);
    return a;
  }

  /** Parameters for /bin/sh: count the run, then `body` (no single quotes in it). */
  params(body: string): string {
    assert.ok(!body.includes("'"));
    return `-c 'echo "$(basename "$CALC_DIR")" >> ${this.counter}; ${body}'`;
  }

  async submit(body: string, o: { inputs?: Record<string, string>; results?: string[]; allow?: boolean } = {}): Promise<string> {
    const id = await this.wf.addCalcInfo(calcInfo(SITE, SH, { parameters: this.params(body), inputs: o.inputs, results: o.results ?? ['out.txt'] }));
    if (o.allow !== false) await this.wf.allowWaitCalc(id);
    return id;
  }

  /** How often each calc's command ran (from the counter file). */
  runs(): Map<string, number> {
    const m = new Map<string, number>();
    for (const line of readFileSync(this.counter, 'utf8').split('\n')) if (line !== '') m.set(line, (m.get(line) ?? 0) + 1);
    return m;
  }

  /** Waits until the calc is `got return` (or cancelled); returns progress and status as the workflow side sees them. */
  async ended(id: string, ms = 60_000): Promise<{ progress: string; status: string | null; reason: string | null; cancelled: boolean }> {
    const deadline = Date.now() + ms;
    for (;;) {
      try {
        const p = await this.wf.calcProgress(id, { since: 'running', waitS: 1 });
        if (p.progress === 'got return') return { progress: p.progress, status: p.status, reason: p.reason, cancelled: false };
      } catch (err) {
        if (isCancelled(err)) return { progress: 'cancelled', status: null, reason: (err as ProtocolFailure).protocolMessage, cancelled: true };
        throw err;
      }
      if (Date.now() > deadline) throw new Error(`calc ${id} did not end in ${ms} ms\n${this.agents.map((a) => a.stdout).join('\n----\n')}`);
      await new Promise((r) => setTimeout(r, 50));
    }
  }

  /** Waits for a condition (bounded). */
  async until(what: string, cond: () => boolean | Promise<boolean>, ms = 20_000): Promise<void> {
    const end = Date.now() + ms;
    while (!(await cond())) {
      if (Date.now() > end) throw new Error(`timed out waiting for ${what}\n${this.agents.map((a) => a.stdout).join('\n----\n')}`);
      await new Promise((r) => setTimeout(r, 20));
    }
  }

  history(): { calcs: CalcRow[]; events: EventRow[] } {
    const db = new Database(join(this.relay.dataDir, 'distcomp.sqlite'), { readonly: true, fileMustExist: true });
    try {
      return {
        calcs: db.prepare('SELECT accept_id, progress, status, attempt, reason, delete_reason FROM calcs').all() as CalcRow[],
        events: db.prepare('SELECT * FROM events ORDER BY id').all() as EventRow[],
      };
    } finally {
      db.close();
    }
  }

  /**
   * Asserts the invariants over the whole recorded history; `ended`: calcs that must have
   * ended exactly once by now. Returns each calc's terminal event kind and its refusals.
   */
  check(ended: readonly string[] = []): { terminal: Map<string, string>; refused: Map<string, EventRow[]> } {
    const { calcs, events } = this.history();
    const runs = this.runs();
    const byCalc = new Map<string, EventRow[]>();
    for (const e of events) byCalc.set(e.accept_id, [...(byCalc.get(e.accept_id) ?? []), e]);
    const problems: string[] = [];
    const terminal = new Map<string, string>();
    const refused = new Map<string, EventRow[]>();
    for (const c of calcs) {
      const evs = byCalc.get(c.accept_id) ?? [];
      const ends = evs.filter((e) => TERMINAL.has(e.kind));
      if (ends.length > 1) problems.push(`${c.accept_id}: ${ends.length} terminal events (${ends.map((e) => e.kind).join(', ')})`);
      if (ended.includes(c.accept_id) && ends.length !== 1) problems.push(`${c.accept_id}: expected to have ended once, found ${ends.length} terminal events`);
      if (ends[0]) terminal.set(c.accept_id, ends[0].kind);
      refused.set(c.accept_id, evs.filter((e) => e.kind === 'refused'));
      let attempt = 0;
      let claims = 0;
      let over = false;
      for (const e of evs) {
        if (e.kind === 'claimed') {
          attempt = (JSON.parse(e.detail ?? '{}') as { attempt: number }).attempt;
          claims++;
        } else if (STEPS.has(e.kind)) {
          if (over) problems.push(`${c.accept_id}: ${e.kind} accepted after the calc ended`);
          let named: unknown = null;
          try {
            named = (JSON.parse(e.detail ?? 'null') as { attempt?: unknown } | null)?.attempt;
          } catch { /* not a lease-aware step */ }
          if (named !== attempt) problems.push(`${c.accept_id}: ${e.kind} accepted from attempt ${String(named)} while attempt ${attempt} held the calc`);
        }
        if (TERMINAL.has(e.kind)) over = true;
      }
      const n = runs.get(c.accept_id) ?? 0;
      if (n > claims) problems.push(`${c.accept_id}: command ran ${n} times for ${claims} claims`);
      if (n > 1) problems.push(`${c.accept_id}: command ran ${n} times`);
      if (terminal.get(c.accept_id) === 'end-send' && c.status === 'completed' && n !== 1) problems.push(`${c.accept_id}: completed, but its command ran ${n} times`);
    }
    const after = this.snapshot();
    for (const [k, v] of this.before) if (after.get(k) !== v) problems.push(`outside the working directories: ${k} changed or vanished`);
    for (const k of after.keys()) if (!this.before.has(k)) problems.push(`outside the working directories: ${k} appeared`);
    assert.deepEqual(problems, [], `history invariants violated:\n${problems.join('\n')}`);
    return { terminal, refused };
  }

  workdir(id: string): string {
    return join(this.calcBase, id);
  }

  hasFile(id: string, name: string): boolean {
    return existsSync(join(this.workdir(id), name));
  }

  async cleanup(): Promise<void> {
    for (const a of this.agents) await a.kill9();
    await this.wf?.close();
    await this.proxy?.close();
    await this.relay?.cleanup();
    this.s.cleanup();
  }
}

/** Whether a process (or, with a negative id, a group) exists. */
export function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}
