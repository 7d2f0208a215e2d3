// Where `npm start` (distcomp start) keeps everything, and the files it writes there: the
// relay's INI, the agent's rules, the `distcomp` wrapper that program A calls. All of it under
// one directory (./.distcomp by default), so a newcomer can look at it and delete it.
import { chmodSync, mkdirSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

export const DEMO_SITE = 'demo-site';
export const DEMO_USER = 'demo';

/** The repository (or installed package) root: examples/ lives there. */
export const PACKAGE_ROOT = fileURLToPath(new URL('../..', import.meta.url));

/** The CLI entry and the node options to run it, from the built tree or (under tsx) from src. */
export function cliEntry(): { script: string; nodeArgs: string[] } {
  const fromSource = import.meta.url.endsWith('.ts');
  const script = fileURLToPath(new URL(`../cli/main.${fromSource ? 'ts' : 'js'}`, import.meta.url));
  return { script, nodeArgs: fromSource ? ['--import', 'tsx'] : [] };
}

export interface DemoLayout {
  dir: string;
  dataDir: string;
  ini: string;
  tokenFile: string;
  logs: string;
  serverLog: string;
  agentLog: string;
  agentEvents: string;
  calcBase: string;
  rules: string;
  bin: string;
  runs: string;
  /** The remote-side script the demo site allows (absolute). */
  remoteCommand: string;
  /** Program A of the verification module, WebAPI method. */
  programA: string;
  /** The sample input files. */
  inputs: { yield_strength: string; tensile_strength: string; reduction_area: string };
}

export function demoLayout(dir: string): DemoLayout {
  const d = resolve(dir);
  const ex = join(PACKAGE_ROOT, 'examples', 'verification');
  return {
    dir: d,
    dataDir: join(d, 'data'),
    ini: join(d, 'mi_distributed_computing_assist.ini'),
    tokenFile: join(d, 'demo-token'),
    logs: join(d, 'logs'),
    serverLog: join(d, 'logs', 'server.log'),
    agentLog: join(d, 'logs', 'agent.log'),
    agentEvents: join(d, 'logs', 'agent-events.jsonl'),
    calcBase: join(d, 'calcs'),
    rules: join(d, 'agent-rules.json'),
    bin: join(d, 'bin'),
    runs: join(d, 'runs'),
    remoteCommand: join(ex, 'remote-side', 'cyclic-ss-curve.sh'),
    programA: join(ex, 'webapi', 'program-a.sh'),
    inputs: {
      yield_strength: join(ex, 'inputs', 'yield_strength.dat'),
      tensile_strength: join(ex, 'inputs', 'tensile_strength.dat'),
      reduction_area: join(ex, 'inputs', 'reduction_area.dat'),
    },
  };
}

export function demoIni(port: number, commands: readonly string[]): string {
  return `; written by distcomp start (npm start); rewritten at every start
[Server]
ipaddress = 127.0.0.1
portnumber = ${port}
loglevel = 3

[RemoteSites]
remote_site_ids = ${DEMO_SITE}

[${DEMO_SITE}]
commands = ${commands.join('\n\t')}
users = ${DEMO_USER}
`;
}

/** A word for sh, single-quoted (our own local paths; nothing from the network). */
export function shQuote(s: string): string {
  return `'${s.replace(/'/g, `'\\''`)}'`;
}

/** Writes the INI, the agent's rules and the `distcomp` wrapper; makes the directories. */
export function writeDemoFiles(l: DemoLayout, port: number): void {
  mkdirSync(l.dir, { recursive: true, mode: 0o700 });
  for (const d of [l.dataDir, l.logs, l.calcBase, l.bin, l.runs]) mkdirSync(d, { recursive: true, mode: 0o700 });
  writeFileSync(l.ini, demoIni(port, [l.remoteCommand]));
  writeFileSync(l.rules, `${JSON.stringify({
    allowed_commands: [l.remoteCommand],
    result_files: { patterns: ['*.txt', '*.dat', '*.inp'] },
    workdirs: { after_success: 'keep', keep_days: 7 },
  }, null, 2)}\n`, { mode: 0o600 });
  chmodSync(l.rules, 0o600);
  const cli = cliEntry();
  const wrapper = join(l.bin, 'distcomp');
  writeFileSync(wrapper, `#!/bin/sh\nexec ${[process.execPath, ...cli.nodeArgs, cli.script].map(shQuote).join(' ')} "$@"\n`, { mode: 0o755 });
  chmodSync(wrapper, 0o755);
}
