// Run `distcomp ssh` as a real process, the installed program from dist/ (`npm test` builds it
// first), so that the tests go the way a module run goes (bin.ts and its CommonJS bundle), and
// small file helpers for the ssh tests.
import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { chmodSync, chownSync, existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CLI } from '../helpers/relay-process.ts';
import type { SshdFixture } from '../helpers/sshd.ts';


export interface CliResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

export function distcompSsh(
  args: readonly string[],
  options: { cwd: string; timeoutMs?: number; onStderr?: (text: string) => void; env?: NodeJS.ProcessEnv },
): Promise<CliResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [CLI, 'ssh', ...args], { cwd: options.cwd, env: options.env ?? process.env, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (c: string) => (stdout += c));
    child.stderr.setEncoding('utf8').on('data', (c: string) => {
      stderr += c;
      options.onStderr?.(stderr);
    });
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`distcomp ssh did not finish in ${options.timeoutMs ?? 60000} ms; stderr so far:\n${stderr}`));
    }, options.timeoutMs ?? 60000);
    child.on('error', reject);
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });
}

const localDirs: string[] = [];

/** A fresh local directory playing program A's working directory. */
export function localDir(): string {
  const dir = mkdtempSync(join(tmpdir(), 'distcomp-local-'));
  localDirs.push(dir);
  return dir;
}

/** Remove the local directories made so far (a suite calls it when it passed). */
export function removeLocalDirs(): void {
  for (const dir of localDirs.splice(0)) rmSync(dir, { recursive: true, force: true });
}

/** Write an executable program C (POSIX sh) into the fixture, runnable by the remote user. */
export function writeProgram(sshd: SshdFixture, name: string, body: string): string {
  const path = join(sshd.dir, name);
  writeFileSync(path, `#!/bin/sh\n${body}\n`, { mode: 0o755 });
  chmodSync(path, 0o755);
  chownSync(path, sshd.user.uid, sshd.user.gid);
  return path;
}

/** Working directories (UUID names) under a remote base. */
export function workdirs(base: string): string[] {
  return readdirSync(base).filter((n) => /^[0-9a-f-]{36}$/.test(n));
}

export function sha256(path: string): string {
  return createHash('sha256').update(readFileSync(path)).digest('hex');
}

/** Wait until `check` holds, polling every 20 ms. */
export async function until(what: string, check: () => boolean, timeoutMs = 20000): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

export function exists(path: string): boolean {
  return existsSync(path);
}

/** Options every test run shares: our ssh_config, and quick reconnects. */
export function baseArgs(sshd: SshdFixture, base: string): string[] {
  return ['-F', sshd.configFile, '--base', base, '--reconnect-delay', '0.2', '--reconnect-max-delay', '1', '--alive-interval', '1', '--alive-count', '3'];
}
