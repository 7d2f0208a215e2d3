// Spawn ssh or rsync with an argument array (never a local shell) and collect what it says.
import { spawn } from 'node:child_process';

export interface ProcessResult {
  /** Exit code, or null when killed by a signal. */
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  /** The last `stderrLimit` bytes of stderr. */
  stderr: string;
}

export interface RunProcessOptions {
  cwd?: string;
  /** Aborting sends SIGTERM to the child; the promise still resolves when it has gone. */
  signal?: AbortSignal;
  /** Keep at most this many trailing bytes of stderr (and of stdout). @default 65536 */
  limit?: number;
  /** Called with each chunk of stderr as it arrives (for --verbose). */
  onStderr?: (chunk: string) => void;
}

function keepTail(text: string, limit: number): string {
  return text.length > limit ? text.slice(text.length - limit) : text;
}

export function runProcess(command: string, args: readonly string[], options: RunProcessOptions = {}): Promise<ProcessResult> {
  const limit = options.limit ?? 65536;
  return new Promise((resolvePromise, reject) => {
    const child = spawn(command, args, { cwd: options.cwd, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (chunk: string) => {
      stdout = keepTail(stdout + chunk, limit);
    });
    child.stderr.setEncoding('utf8').on('data', (chunk: string) => {
      stderr = keepTail(stderr + chunk, limit);
      options.onStderr?.(chunk);
    });
    const onAbort = (): void => {
      child.kill('SIGTERM');
    };
    options.signal?.addEventListener('abort', onAbort, { once: true });
    if (options.signal?.aborted) onAbort();
    child.on('error', (err) => {
      options.signal?.removeEventListener('abort', onAbort);
      reject(err);
    });
    child.on('close', (code, signal) => {
      options.signal?.removeEventListener('abort', onAbort);
      resolvePromise({ code, signal, stdout, stderr });
    });
  });
}

/** The last `n` lines of a process's output, trimmed. */
export function lastLines(text: string, n = 5): string {
  return text.trimEnd().split('\n').slice(-n).join('\n').trim();
}

export function describeExit(r: ProcessResult): string {
  return r.code === null ? `on signal ${r.signal}` : `with status ${r.code}`;
}
