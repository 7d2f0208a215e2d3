// A real relay as a child process, for end-to-end tests: a temp data dir and INI, users and
// tokens made through the CLI (`distcomp user add`, `distcomp token create`), the server
// started with `--port 0` (or a fixed port, to restart it on the same address), its URL read
// from the "listening on URL" line it prints on stderr. Needs `npm run build` (runs dist/cli/main.js).
//
//   const relay = await RelayProcess.start({ sites: { 'site-a': { commands: ['/bin/echo'] } } });
//   t.after(() => relay.cleanup());
//   const token = relay.token();            // the first user's token
//   await relay.kill9(); await relay.restart();
//
// A failing test's temp dir is kept when DISTCOMP_KEEP_TEST_DIRS=1 (its path is printed).
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { writeIni } from './relay-in-process.ts';
import { CLI, spawnServer, type ServerProcess } from './server-process.ts';

export const REPO = resolve(import.meta.dirname, '..', '..');
export { CLI };

export interface CliResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Runs `node dist/cli/main.js ...args` to the end (bounded by `timeoutMs`). */
export function runCli(args: string[], o: { input?: string; env?: NodeJS.ProcessEnv; timeoutMs?: number } = {}): Promise<CliResult> {
  return new Promise((resolveP, reject) => {
    const child = spawn(process.execPath, [CLI, ...args], { env: o.env ?? process.env, stdio: ['pipe', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`distcomp ${args.join(' ')} did not finish in ${o.timeoutMs ?? 30_000} ms\n${stdout}\n${stderr}`));
    }, o.timeoutMs ?? 30_000);
    child.on('error', reject);
    child.on('close', (code) => {
      clearTimeout(timer);
      resolveP({ code, stdout, stderr });
    });
    child.stdin.end(o.input ?? '');
  });
}

/** A TCP port that was free a moment ago (for a relay that must come back on the same port). */
export function freePort(): Promise<number> {
  return new Promise((res, rej) => {
    const s = createServer();
    s.once('error', rej);
    s.listen(0, '127.0.0.1', () => {
      const a = s.address();
      const port = typeof a === 'object' && a ? a.port : 0;
      s.close(() => res(port));
    });
  });
}

export interface SiteSpec {
  /** Commands the relay allows for the site. */
  commands: string[];
  /** Users allowed to use the site (ours); all when absent. */
  users?: string[];
}

export interface RelayProcessOptions {
  /** Sites of the INI. @default { "test-site": { commands: [] } } */
  sites?: Record<string, SiteSpec>;
  /** Users to add, each with a token; a password enables `login`. @default [{ name: "alice" }] */
  users?: { name: string; password?: string }[];
  /** Fixed port; 0 picks one (kept for restart()). @default 0 */
  port?: number;
  /** Extra [Server] keys, e.g. { expire_minutes: "1" }. */
  server?: Record<string, string>;
  /** Start the process (false: only prepare the data dir, INI, users; call restart() later). @default true */
  start?: boolean;
  /** Environment of the server process. */
  env?: NodeJS.ProcessEnv;
}

export class RelayProcess {
  /** The temp directory holding the data dir and the INI. */
  readonly dir: string;
  readonly dataDir: string;
  readonly iniPath: string;
  /** Tokens made at start, by user name. */
  readonly tokens = new Map<string, string>();
  port: number;
  url = '';
  private child: ChildProcess | null = null;

  /** The running relay's pid (for /proc readings). */
  get pid(): number {
    if (!this.child?.pid) throw new Error('the relay is not running');
    return this.child.pid;
  }
  /** What earlier runs printed. */
  private output = '';
  private server: ServerProcess | null = null;
  private exited: Promise<void> = Promise.resolve();

  private constructor(private readonly o: RelayProcessOptions) {
    this.dir = mkdtempSync(join(tmpdir(), 'distcomp-relay-'));
    this.dataDir = join(this.dir, 'data');
    this.iniPath = join(this.dir, 'mi_distributed_computing_assist.ini');
    this.port = o.port ?? 0;
  }

  static async start(o: RelayProcessOptions = {}): Promise<RelayProcess> {
    const r = new RelayProcess(o);
    r.writeIni(o.sites ?? { 'test-site': { commands: [] } });
    for (const u of o.users ?? [{ name: 'alice' }]) {
      const add = await runCli(['user', 'add', u.name, '--data-dir', r.dataDir, ...(u.password ? ['--password-stdin'] : [])], { input: u.password ? `${u.password}\n` : '' });
      if (add.code !== 0) throw new Error(`user add ${u.name} failed: ${add.stderr}`);
      r.tokens.set(u.name, await r.createToken(u.name));
    }
    if (o.start !== false) await r.restart();
    return r;
  }

  /** Rewrites the INI (the relay re-reads it at registration and when it changes). */
  writeIni(sites: Record<string, SiteSpec>): void {
    writeIni(this.iniPath, { sites, server: { loglevel: 3, ...this.o.server } });
  }

  async createToken(user: string): Promise<string> {
    const r = await runCli(['token', 'create', user, '--data-dir', this.dataDir]);
    const t = r.stdout.trim();
    if (r.code !== 0 || !/^[0-9a-f]{64}$/.test(t)) throw new Error(`token create ${user} failed: ${r.stderr}`);
    return t;
  }

  /** The token of a user made at start (the first user by default). */
  token(user?: string): string {
    const name = user ?? [...this.tokens.keys()][0];
    const t = name === undefined ? undefined : this.tokens.get(name);
    if (t === undefined) throw new Error(`no token for ${String(user)}`);
    return t;
  }

  /** Everything the server printed so far (across restarts). */
  logs(): string {
    return this.output + (this.server?.output() ?? '');
  }

  get running(): boolean {
    return this.child !== null;
  }

  /** Starts the server (again), on the same data dir and, once known, the same port. */
  async restart(): Promise<void> {
    if (this.child) throw new Error('relay already running');
    let server: ServerProcess;
    try {
      server = await spawnServer(this.iniPath, this.dataDir, this.port, [], [], this.o.env ?? process.env);
    } catch (err) {
      this.output += (err as Error).message;
      throw err;
    }
    const child = server.child;
    this.child = child;
    this.server = server;
    this.exited = new Promise((res) => {
      const gone = (): void => {
        if (this.child === child) this.child = null;
        this.output += server.output();
        if (this.server === server) this.server = null;
        res();
      };
      if (child.exitCode !== null || child.signalCode !== null) gone();
      else child.once('exit', gone);
    });
    this.url = server.url;
    this.port = Number(new URL(server.url).port);
  }

  /** Stops the server with a signal and waits for it to exit. */
  async stop(signal: NodeJS.Signals = 'SIGTERM'): Promise<void> {
    const c = this.child;
    if (!c) return;
    c.kill(signal);
    await this.exited;
  }

  kill9(): Promise<void> {
    return this.stop('SIGKILL');
  }

  /** Kills the server and removes the temp dir (kept with DISTCOMP_KEEP_TEST_DIRS=1). */
  async cleanup(): Promise<void> {
    await this.kill9();
    if (process.env['DISTCOMP_KEEP_TEST_DIRS'] === '1') process.stderr.write(`kept ${this.dir}\n`);
    else rmSync(this.dir, { recursive: true, force: true });
  }
}
