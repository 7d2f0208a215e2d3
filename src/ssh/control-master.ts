// One multiplexed SSH connection for the whole run: an OpenSSH ControlMaster on a socket in a
// private temporary directory. Every ssh and rsync of the run goes through it, so the
// handshake (about 0.3 s on loopback here, more over the Internet) is paid once, not per step.
import { chmodSync, existsSync, lstatSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ConnectError } from './errors.ts';
import { muxRequest } from './mux-client.ts';
import { rsyncShellWord } from './remote-command.ts';
import { describeExit, lastLines, runProcess, type ProcessResult } from './run-process.ts';
import type { SshOptions } from './ssh-options.ts';

// The control socket path goes through rsync's -e splitting and must fit a unix socket
// (108 bytes), so its directory may hold only plain characters.
const PLAIN_DIR = /^[A-Za-z0-9_./-]{1,80}$/;

export class ControlMaster {
  readonly controlPath: string;
  private readonly dir: string;
  /** With --persist, the master outlives the run and a later run may find it alive. */
  private readonly persistent: boolean;

  constructor(private readonly options: SshOptions) {
    this.persistent = options.persistS > 0;
    if (this.persistent) {
      this.dir = privateDir(options.persistDir);
      // %C: ssh's hash of local host, remote host, port and user: one master per destination
      this.controlPath = join(this.dir, '%C');
    } else {
      let parent = tmpdir();
      if (!PLAIN_DIR.test(parent)) parent = '/tmp';
      this.dir = mkdtempSync(join(parent, 'distcomp-ssh-'));
      this.controlPath = join(this.dir, 'm');
    }
  }

  /** Options every ssh of the run shares (the destination is not included). */
  private commonArgs(): string[] {
    const o = this.options;
    const args: string[] = [];
    if (o.sshConfigFile !== undefined) args.push('-F', o.sshConfigFile);
    if (o.port !== undefined) args.push('-p', String(o.port));
    args.push(
      '-o', 'BatchMode=yes',
      '-o', `ControlPath=${this.controlPath}`,
      '-o', `ServerAliveInterval=${o.aliveIntervalS}`,
      '-o', `ServerAliveCountMax=${o.aliveCountMax}`,
      '-o', `ConnectTimeout=${o.connectTimeoutS}`,
      // Nothing of this method needs the agent or X11 on the external computer; a config that
      // forwards them by default would hand them over (and cost a request per session).
      '-o', 'ForwardAgent=no',
      '-o', 'ForwardX11=no',
    );
    return args;
  }

  /** Arguments for one session through the master (ssh itself is not included). */
  clientArgs(): string[] {
    return [...this.commonArgs(), '-o', 'ControlMaster=no', '-T'];
  }

  /** rsync's `-e` value: the same ssh, through the master. */
  rsyncShell(): string {
    return [this.options.sshBin, ...this.clientArgs()].map(rsyncShellWord).join(' ');
  }

  /**
   * Open (or re-open) the master. With ControlPersist, ssh authenticates, forks the master
   * into the background and exits 0, so our child's exit says "ready" (or why not).
   */
  async connect(signal?: AbortSignal): Promise<void> {
    const o = this.options;
    if (this.persistent && (await this.isAlive())) return; // an earlier run's master: no handshake
    const result = await runProcess(
      o.sshBin,
      [
        ...this.commonArgs(),
        '-o', 'ControlMaster=yes',
        '-o', `ControlPersist=${this.persistent ? o.persistS : o.controlPersistS}`,
        '-o', 'ClearAllForwardings=yes',
        '-N',
        o.host,
      ],
      { signal },
    );
    if (result.code !== 0) {
      throw new ConnectError(`cannot connect to ${o.host}: ${lastLines(result.stderr) || `ssh exited ${describeExit(result)}`}`, { step: 'connect' });
    }
  }

  /** True while the master holds a live connection. */
  async isAlive(): Promise<boolean> {
    // With --persist the socket name is ssh's own %C hash, which only ssh can expand.
    if (this.persistent) return (await this.control('check')).code === 0;
    return (await muxRequest(this.controlPath, 'alive')).ok;
  }

  private control(command: 'check' | 'exit'): Promise<ProcessResult> {
    return runProcess(this.options.sshBin, [...this.commonArgs(), '-O', command, this.options.host]);
  }

  /** Close the master and remove the private directory (with --persist: leave it for the next run). */
  async close(): Promise<void> {
    if (this.persistent) return;
    try {
      // Asked over the socket from here; `ssh -O exit` only if that did not work and the
      // socket is still there (a master that is already gone has removed it).
      const answer = await muxRequest(this.controlPath, 'terminate');
      if (!answer.ok && existsSync(this.controlPath)) await this.control('exit');
    } finally {
      rmSync(this.dir, { recursive: true, force: true });
    }
  }
}

/** The per-user socket directory: created 0700, and refused if someone else could use it. */
function privateDir(dir: string): string {
  if (!PLAIN_DIR.test(dir)) throw new ConnectError(`persistent socket directory ${JSON.stringify(dir)} has characters ssh/rsync cannot pass`, { step: 'connect' });
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  const st = lstatSync(dir);
  if (!st.isDirectory() || (process.getuid !== undefined && st.uid !== process.getuid())) {
    throw new ConnectError(`persistent socket directory ${dir} is not a directory owned by this user`, { step: 'connect' });
  }
  if ((st.mode & 0o077) !== 0) chmodSync(dir, 0o700);
  return dir;
}
