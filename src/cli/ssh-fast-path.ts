// `distcomp ssh` (program B) for an ordinary command line, without commander (ssh-argv.ts). One
// module on purpose: the build bundles it, with everything a job needs, into one CommonJS file
// (dist/cli/ssh-fast-path.cjs), which the installed program (bin.ts) runs through the code cache
// without Node's ES module loader, as it runs submit's.
import { parseSshArgv } from './ssh-argv.ts';
import { runSshCli } from './ssh-run.ts';

/** The job's exit status, or undefined when this command line is one for commander. */
export async function sshFromArgv(args: readonly string[]): Promise<number | undefined> {
  const parsed = parseSshArgv(args);
  if (parsed === undefined) return undefined;
  await runSshCli(parsed.words, parsed.flags);
  return typeof process.exitCode === 'number' ? process.exitCode : 0;
}
