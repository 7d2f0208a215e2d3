// The relay as a separate process (`node dist/cli/main.js server`), for tests that kill it.
// RelayProcess (relay-process.ts) builds on it with a data dir, users and tokens of its own.
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { fileURLToPath } from 'node:url';

export const CLI = fileURLToPath(new URL('../../dist/cli/main.js', import.meta.url));

export interface ServerProcess {
  child: ChildProcess;
  url: string;
  /** Everything it logged so far. */
  output(): string;
  kill(signal?: NodeJS.Signals): Promise<void>;
}

/** Starts the server and resolves once it logs "relay listening" (with the URL). */
export async function spawnServer(iniPath: string, dataDir: string, port = 0, extra: string[] = [], nodeArgs: string[] = [], env: NodeJS.ProcessEnv = process.env): Promise<ServerProcess> {
  const child = spawn(process.execPath, [...nodeArgs, CLI, 'server', '--config', iniPath, '--data-dir', dataDir, '--port', String(port), ...extra], {
    env, stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  const url = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`server did not start in 15 s:\n${out}`));
    }, 15_000);
    let listening = false;
    const onData = (d: Buffer): void => {
      out += d.toString();
      // searched only until found: a relay logging at info level writes lines for every state
      // change, and searching the whole output at each of them cost the test process (which
      // shares the CPUs with the relay) time quadratic in the number of calcs
      if (listening) return;
      // the server always prints this line on stderr, whatever its log level
      const m = /listening on (https?:\/\/\S+)/.exec(out);
      if (m?.[1]) {
        listening = true;
        clearTimeout(timer);
        resolve(m[1]);
      }
    };
    child.stdout!.on('data', onData);
    child.stderr!.on('data', onData);
    child.once('exit', (c) => {
      clearTimeout(timer);
      reject(new Error(`server exited with ${c} before listening:\n${out}`));
    });
  });
  return {
    child, url,
    output: () => out,
    async kill(signal: NodeJS.Signals = 'SIGKILL') {
      if (child.exitCode !== null || child.signalCode !== null) return;
      child.kill(signal);
      await once(child, 'exit');
    },
  };
}
