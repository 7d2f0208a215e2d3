// A throw-away OpenSSH server on a loopback port, for tests and the bench: fresh host and user
// keys, its own sshd_config and a client ssh_config with one Host alias. Optionally behind a
// small TCP proxy of our own, so a test can cut the connection the way a network does.
// Needs root (sshd's privilege separation, and key login as another user); CI runs as root.
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { chmodSync, closeSync, openSync, chownSync, copyFileSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import { tmpdir, userInfo } from 'node:os';
import { join } from 'node:path';
import { resetConnection } from './tcp-proxy.ts';

export const SSHD = '/usr/sbin/sshd';
const TOOLS = [SSHD, '/usr/bin/ssh', '/usr/bin/ssh-keygen', '/usr/bin/rsync'];
/** A local account whose login shell is /bin/sh, so nothing depends on bash startup files. */
export const TEST_USER = 'distcomp-sshtest';
export const ALIAS = 'distcomp-test';
export const GATE_TEMPLATE = new URL('../../templates/ssh/distcomp-ssh-gate.sh', import.meta.url).pathname;

/**
 * Why the ssh tests cannot run here, or undefined when they can. Under CI (CI=true) a
 * missing tool is an error, never a skip: CI installs openssh-server and rsync.
 */
export function sshSkipReason(): string | undefined {
  const missing = TOOLS.filter((t) => !existsSync(t));
  let reason: string | undefined;
  if (missing.length > 0) reason = `missing ${missing.join(', ')} (apt-get install -y openssh-server rsync)`;
  else if (process.getuid?.() !== 0) reason = 'sshd tests need root (sshd privilege separation and login as a test user)';
  if (reason === undefined) return undefined;
  if (process.env['CI'] === 'true') throw new Error(`SSH TESTS CANNOT RUN UNDER CI: ${reason}`);
  console.error(`\n!!! SKIPPING the SSH method tests against a real sshd: ${reason} !!!\n`);
  return reason;
}

function ensureTestUser(): { name: string; uid: number; gid: number } {
  try {
    execFileSync('id', ['-u', TEST_USER], { stdio: 'ignore' });
  } catch {
    // '*' (not '!'): no password, but not locked, so sshd accepts key login.
    execFileSync('useradd', ['-M', '-d', '/tmp', '-s', '/bin/sh', '-p', '*', TEST_USER], { stdio: 'inherit' });
  }
  const uid = Number(execFileSync('id', ['-u', TEST_USER], { encoding: 'utf8' }).trim());
  const gid = Number(execFileSync('id', ['-g', TEST_USER], { encoding: 'utf8' }).trim());
  return { name: TEST_USER, uid, gid };
}

async function freePort(): Promise<number> {
  const server = net.createServer();
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const { port } = server.address() as net.AddressInfo;
  await new Promise<void>((r) => server.close(() => r()));
  return port;
}

async function waitForBanner(port: number, deadlineMs: number): Promise<void> {
  const until = Date.now() + deadlineMs;
  for (;;) {
    const ok = await new Promise<boolean>((resolve) => {
      const s = net.connect(port, '127.0.0.1');
      s.once('data', (d) => {
        s.destroy();
        resolve(d.toString().startsWith('SSH-'));
      });
      s.once('error', () => resolve(false));
    });
    if (ok) return;
    if (Date.now() > until) throw new Error(`sshd did not answer on 127.0.0.1:${port}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** A loopback TCP proxy that can drop every connection through it, at once or after N bytes. */
export class CutProxy {
  private readonly pairs = new Set<[net.Socket, net.Socket]>();
  /** Connections whose traffic is silently dropped (a network that stopped answering). */
  private readonly stalled = new WeakSet<net.Socket>();
  private server!: net.Server;
  port = 0;
  /** Bytes forwarded, each direction, over all connections. */
  upBytes = 0;
  downBytes = 0;
  cuts = 0;
  private cutRule: { direction: 'up' | 'down'; after: number; then?: () => void } | undefined;

  constructor(private readonly target: number) {}

  async start(): Promise<void> {
    this.server = net.createServer((client) => {
      const upstream = net.connect(this.target, '127.0.0.1');
      const pair: [net.Socket, net.Socket] = [client, upstream];
      this.pairs.add(pair);
      const forward = (from: net.Socket, to: net.Socket, direction: 'up' | 'down'): void => {
        from.on('data', (chunk: Buffer) => {
          if (this.stalled.has(from)) return;
          if (direction === 'up') this.upBytes += chunk.length;
          else this.downBytes += chunk.length;
          to.write(chunk);
          const rule = this.cutRule;
          if (rule && rule.direction === direction && (direction === 'up' ? this.upBytes : this.downBytes) >= rule.after) {
            this.cutRule = undefined;
            rule.then?.();
            this.cut();
          }
        });
      };
      forward(client, upstream, 'up');
      forward(upstream, client, 'down');
      const close = (): void => {
        client.destroy();
        upstream.destroy();
        this.pairs.delete(pair);
      };
      client.on('close', close).on('error', close);
      upstream.on('close', close).on('error', close);
    });
    await new Promise<void>((r) => this.server.listen(0, '127.0.0.1', r));
    this.port = (this.server.address() as net.AddressInfo).port;
  }

  /** Drop every open connection now (new ones are still accepted: the network "comes back"). */
  cut(): void {
    this.cuts++;
    for (const [a, b] of this.pairs) {
      resetConnection(a);
      resetConnection(b);
    }
    this.pairs.clear();
  }

  /**
   * Stop forwarding on every open connection without closing it: nothing arrives, nothing
   * fails, as when a route goes away. Only keepalives (ServerAliveInterval) can notice.
   * New connections work.
   */
  stall(): void {
    for (const [a, b] of this.pairs) {
      this.stalled.add(a);
      this.stalled.add(b);
    }
  }

  /** Drop everything once the byte count in `direction` (from now on) passes `bytes`. */
  cutAfter(direction: 'up' | 'down', bytes: number, then?: () => void): void {
    this.cutRule = { direction, after: (direction === 'up' ? this.upBytes : this.downBytes) + bytes, then };
  }

  async stop(): Promise<void> {
    this.cut();
    await new Promise<void>((r) => this.server.close(() => r()));
  }
}

export interface SshdOptions {
  /** Put our cuttable proxy between client and sshd. @default true */
  proxy?: boolean;
  /** Install the gate as the key's forced command with these options. */
  gate?: { base: string; program: string };
}

export class SshdFixture {
  readonly dir: string;
  readonly configFile: string;
  readonly gateLog: string;
  readonly user: { name: string; uid: number; gid: number };
  proxy: CutProxy | undefined;
  sshdPort = 0;
  private sshd: ChildProcess | undefined;
  private userKeyPub = '';

  private constructor() {
    this.dir = mkdtempSync(join(tmpdir(), 'distcomp-sshd-'));
    chmodSync(this.dir, 0o755);
    this.configFile = join(this.dir, 'ssh_config');
    this.gateLog = join(this.dir, 'gate.log');
    this.user = userInfo().uid === 0 ? ensureTestUser() : { name: userInfo().username, uid: userInfo().uid, gid: userInfo().gid };
  }

  static async start(options: SshdOptions = {}): Promise<SshdFixture> {
    const f = new SshdFixture();
    await f.boot(options);
    return f;
  }

  /** A directory the remote user owns (a base for working directories). */
  makeRemoteDir(name: string): string {
    const path = join(this.dir, name);
    mkdirSync(path, { recursive: true });
    chownSync(path, this.user.uid, this.user.gid);
    chmodSync(path, 0o755);
    return path;
  }

  /** Write authorized_keys: the plain key, or the key behind the gate. */
  authorize(gate?: { base: string; program: string }): void {
    let line = this.userKeyPub;
    if (gate) {
      const gatePath = join(this.dir, 'distcomp-ssh-gate.sh');
      copyFileSync(GATE_TEMPLATE, gatePath);
      chmodSync(gatePath, 0o755);
      writeFileSync(this.gateLog, '');
      chownSync(this.gateLog, this.user.uid, this.user.gid);
      const q = (s: string): string => `'${s.replaceAll("'", `'\\''`)}'`;
      const command = `${gatePath} --base ${q(gate.base)} --program ${q(gate.program)} --log ${q(this.gateLog)}`;
      line = `command="${command.replaceAll('\\', '\\\\').replaceAll('"', '\\"')}",restrict ${this.userKeyPub}`;
    }
    writeFileSync(join(this.dir, 'authorized_keys'), `${line}\n`, { mode: 0o644 });
  }

  private async boot(options: SshdOptions): Promise<void> {
    const d = this.dir;
    execFileSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-C', 'distcomp-test-host', '-f', join(d, 'host_key')]);
    execFileSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-C', 'distcomp-test-user', '-f', join(d, 'user_key')]);
    this.userKeyPub = readFileSync(join(d, 'user_key.pub'), 'utf8').trim();
    this.authorize(options.gate);
    const hostPub = readFileSync(join(d, 'host_key.pub'), 'utf8').trim().split(' ').slice(0, 2).join(' ');
    writeFileSync(join(d, 'known_hosts'), `${ALIAS} ${hostPub}\n`);
    mkdirSync('/run/sshd', { recursive: true, mode: 0o755 });

    for (let attempt = 0; ; attempt++) {
      this.sshdPort = await freePort();
      writeFileSync(
        join(d, 'sshd_config'),
        [
          'ListenAddress 127.0.0.1',
          `Port ${this.sshdPort}`,
          `HostKey ${join(d, 'host_key')}`,
          `AuthorizedKeysFile ${join(d, 'authorized_keys')}`,
          `PidFile ${join(d, 'sshd.pid')}`,
          'StrictModes no',
          'UsePAM no',
          `AllowUsers ${this.user.name}`,
          'PasswordAuthentication no',
          'KbdInteractiveAuthentication no',
          'PermitRootLogin no',
          'MaxSessions 50',
          'MaxStartups 50',
          '',
        ].join('\n'),
      );
      const log = join(d, 'sshd.log');
      const logFd = openSync(log, 'a');
      this.sshd = spawn(SSHD, ['-D', '-e', '-f', join(d, 'sshd_config')], { stdio: ['ignore', 'ignore', logFd] });
      closeSync(logFd);
      try {
        await waitForBanner(this.sshdPort, 5000);
        break;
      } catch (err) {
        this.sshd.kill();
        if (attempt >= 2) throw new Error(`sshd did not start: ${readFileSync(log, 'utf8')}`, { cause: err });
      }
    }

    let port = this.sshdPort;
    if (options.proxy !== false) {
      this.proxy = new CutProxy(this.sshdPort);
      await this.proxy.start();
      port = this.proxy.port;
    }
    writeFileSync(
      this.configFile,
      [
        `Host ${ALIAS}`,
        '  HostName 127.0.0.1',
        `  Port ${port}`,
        `  User ${this.user.name}`,
        `  IdentityFile ${join(d, 'user_key')}`,
        '  IdentitiesOnly yes',
        `  HostKeyAlias ${ALIAS}`,
        `  UserKnownHostsFile ${join(d, 'known_hosts')}`,
        '  StrictHostKeyChecking yes',
        '  LogLevel ERROR',
        '',
      ].join('\n'),
    );
  }

  /** sshd's own log, for failure messages. */
  sshdLog(): string {
    try {
      return readFileSync(join(this.dir, 'sshd.log'), 'utf8');
    } catch {
      return '';
    }
  }

  async stop(options: { keep?: boolean } = {}): Promise<void> {
    await this.proxy?.stop();
    if (this.sshd && this.sshd.exitCode === null) {
      const gone = new Promise((r) => this.sshd?.once('exit', r));
      this.sshd.kill('SIGTERM');
      await gone;
    }
    if (!options.keep) rmSync(this.dir, { recursive: true, force: true });
  }
}
