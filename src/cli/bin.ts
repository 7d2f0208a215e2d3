#!/usr/bin/env node
// The installed `distcomp` program (dist/cli/main.js), built as CommonJS.
//
// `distcomp submit` (called by program A) and `distcomp ssh` (program B) run once per module
// run, in a fresh process, and are timed (issues 4 and 5). Their ordinary command lines are run
// here, each from its own CommonJS bundle compiled through the user's code cache
// (code-cache.ts), so that such a run never starts Node's ES module loader: that cost each submit
// 15-21 ms on our 2-core machines (e2e bench, paired A/B in both orders). They end with
// exitFlushed(), without a natural exit's teardown. Every other command, and the command lines
// left to commander (help, errors, anything unusual), go on to main.ts, loaded as an ES module
// (dist/cli/main.mjs).
import { fileURLToPath, pathToFileURL } from 'node:url';
import { EXIT } from './cli-errors.ts';
import { loadWithCodeCache } from './code-cache.ts';
import { exitFlushed } from './exit-flushed.ts';

const here = (name: string): string => fileURLToPath(new URL(name, import.meta.url));

/**
 * Runs an ordinary command line from a CommonJS bundle to its exit; false when it is one for
 * commander. `keepsCode`: whether a run that ended so leaves its compiled code for the next;
 * `streams`: those it wrote to, for exitFlushed() (both when not given).
 */
async function fastPath<M>(bundle: string, run: (m: M) => Promise<number | undefined>, keepsCode: (code: number) => boolean, streams?: (m: M) => NodeJS.WriteStream[]): Promise<boolean> {
  const fast = loadWithCodeCache<M>(here(bundle));
  const code = await run(fast.exports);
  if (code === undefined) return false;
  if (keepsCode(code)) fast.save();
  await exitFlushed(code, streams?.(fast.exports));
  return true;
}

const args = process.argv.slice(3);
type SubmitPath = typeof import('./submit-fast-path.ts');
type SshPath = typeof import('./ssh-fast-path.ts');
// a submit that went the whole way (completed 0, abnormal 1), an ssh job that succeeded
const submit = (): Promise<boolean> => fastPath<SubmitPath>('./submit-fast-path.cjs', (m) => m.submitFromArgv(args), (code) => code === 0 || code === 1, (m) => m.writtenStreams());
const ssh = (): Promise<boolean> => fastPath<SshPath>('./ssh-fast-path.cjs', (m) => m.sshFromArgv(args), (code) => code === 0);

// Set once the command has run to its end. An ES module whose top-level await never settles
// ends with 13; here the event loop running empty before that would end with 0, which program A
// reads as a completed calc: such an end is an error. ('beforeExit' comes only when the loop ran
// empty, never on process.exit(): commander's --help and --version, exitFlushed().)
let finished = false;
process.on('beforeExit', () => {
  if (finished || (process.exitCode !== undefined && process.exitCode !== 0)) return;
  process.stderr.write('distcomp: ended before the command finished (nothing was left to wait for)\n');
  process.exitCode = EXIT.usage;
});

(async () => {
  const sub = process.argv[2];
  if (sub === 'submit' && await submit()) return;
  if (sub === 'ssh' && await ssh()) return;
  // a path built at run time: the bundler leaves this import to Node
  await import(pathToFileURL(here('./main.mjs')).href);
})().then(() => (finished = true), (err: unknown) => {
  // a broken installation (a file missing) or a bug: never exit 1, which tells program A that
  // the calc ended abnormal
  process.stderr.write(`distcomp: ${(err as Error)?.stack ?? String(err)}\n`);
  process.exit(EXIT.usage);
});
