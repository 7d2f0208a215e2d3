// `distcomp submit` for an ordinary command line, without commander (submit-argv.ts). One
// module on purpose: the build bundles it, with everything submit needs before its first
// request, into one file (dist/cli/submit-fast-path.js), because every extra module file
// cost ~0.5-1 ms to resolve and load on our 2-core machines (scripts/build.mjs).
import { parseSubmitArgv } from './submit-argv.ts';
import { runSubmitCli } from './submit-run.ts';

export { writtenStreams } from './submit-run.ts';

/** The exit status of the submit, or undefined when this command line is one for commander. */
export async function submitFromArgv(args: readonly string[]): Promise<number | undefined> {
  const parsed = parseSubmitArgv(args);
  // main.ts exits with exitFlushed() as soon as this resolves
  return parsed && runSubmitCli(parsed.positionals, parsed.flags, true);
}
