#!/usr/bin/env node
// The one command-line program `distcomp`; each subcommand lives in its own thin file
// (parse, compile options, call the room that does the work, map errors to exit codes).
// Only the subcommand being run is imported: loading every room (fastify, sqlite, the HTTP client...)
// took ~0.45 s per start on our 2-core machines, which every `distcomp submit` would pay.
import { readFileSync } from 'node:fs';
import type { Command } from 'commander';

// `distcomp ssh` (program B) runs once per module run and is timed against the deployed shell
// sequence (issue 5): its ordinary command lines skip commander (17-32 ms of each run here).
// parseSshArgv() leaves help, errors and anything unusual to the commander path below.
if (process.argv[2] === 'ssh') {
  const { parseSshArgv } = await import('./ssh-argv.ts');
  const parsed = parseSshArgv(process.argv.slice(3));
  if (parsed !== undefined) {
    const { runSshCli } = await import('./ssh-run.ts');
    await runSshCli(parsed.words, parsed.flags);
    // Nothing is left to run (stderr writes are synchronous on pipes, files and terminals
    // here); exiting now skips the 3-5 ms teardown of a natural exit.
    process.exit();
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
