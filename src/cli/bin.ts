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

/** Runs an ordinary submit to its exit; false when its command line is one for commander. */
async function submit(): Promise<boolean> {
  const fast = loadWithCodeCache<typeof import('./submit-fast-path.ts')>(here('./submit-fast-path.cjs'));
  const code = await fast.exports.submitFromArgv(process.argv.slice(3));
  if (code === undefined) return false;
  // a submit that went the whole way (completed 0, abnormal 1) leaves its compiled code for the next
  if (code === 0 || code === 1) fast.save();
  await exitFlushed(code, fast.exports.writtenStreams());
  return true;
}

/** Runs an ordinary ssh job to its exit; false when its command line is one for commander. */
async function ssh(): Promise<boolean> {
  const fast = loadWithCodeCache<typeof import('./ssh-fast-path.ts')>(here('./ssh-fast-path.cjs'));
  const code = await fast.exports.sshFromArgv(process.argv.slice(3));
  if (code === undefined) return false;
  if (code === 0) fast.save();
  await exitFlushed(code);
  return true;
}

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
