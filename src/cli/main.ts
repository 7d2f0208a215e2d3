// The `distcomp` program's commands, loaded as an ES module (dist/cli/main.mjs) by the
// installed program, bin.ts, which runs `distcomp submit` itself without Node's ES module
// loader and comes here for everything else; each subcommand lives in its own thin file (parse,
// compile options, call the room that does the work, map errors to exit codes).
// Only the subcommand being run is imported: loading every room (fastify, sqlite, the HTTP client...)
// took ~0.45 s per start on our 2-core machines, which every `distcomp submit` would pay.
import { readFileSync } from 'node:fs';
import type { Command } from 'commander';
import { exitFlushed } from './exit-flushed.ts';

// `distcomp ssh` (program B) runs once per module run and is timed (issue 5): its ordinary
// command lines skip commander (10-30 ms of each run here) and end with exitFlushed(), without a
// natural exit's teardown. Help, errors and anything unusual go to the commander path below,
// as do the `distcomp submit` command lines that bin.ts leaves to commander.
const sub = process.argv[2];
if (sub === 'ssh') {
  const { parseSshArgv } = await import('./ssh-argv.ts');
  const parsed = parseSshArgv(process.argv.slice(3));
  if (parsed !== undefined) {
    const { runSshCli } = await import('./ssh-run.ts');
    await runSshCli(parsed.words, parsed.flags);
    await exitFlushed(typeof process.exitCode === 'number' ? process.exitCode : 0);
  } else {
    await runWithCommander();
  }
} else {
  await runWithCommander();
}

async function runWithCommander(): Promise<void> {
  const { Command } = await import('commander');
  const pkg = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string };

  // subcommands: one line each, loaded on demand
  const SUBCOMMANDS: Record<string, () => Promise<Command>> = {
    server: async () => (await import('./server-command.ts')).serverCommand(),
    user: async () => (await import('./user-command.ts')).userCommand(),
    token: async () => (await import('./token-command.ts')).tokenCommand(),
    agent: async () => (await import('./agent-command.ts')).agentCommand(),
    submit: async () => (await import('./submit-command.ts')).submitCommand(),
    ssh: async () => (await import('./ssh-command.ts')).sshCommand(),
    start: async () => (await import('./start-command.ts')).startCommand(),
  };

  const program = new Command('distcomp')
    .description('External computing resources for MInt workflows (WebAPI relay, polling agent, submit, SSH method)')
    .version(pkg.version)
    .showHelpAfterError()
    .enablePositionalOptions();

  const wanted = process.argv[2];
  const only = wanted !== undefined ? SUBCOMMANDS[wanted] : undefined;
  const versionOnly = wanted === '-V' || wanted === '--version';
  for (const load of only ? [only] : versionOnly ? [] : Object.values(SUBCOMMANDS)) program.addCommand(await load());

  await program.parseAsync(process.argv);
}
