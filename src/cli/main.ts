// The `distcomp` program's commands, loaded as an ES module (dist/cli/main.mjs) by the
// installed program, bin.ts, which runs the ordinary command lines of `distcomp submit` and
// `distcomp ssh` itself, without Node's ES module loader, and comes here for everything else
// (those two included when commander must read them: help, errors). Each subcommand lives in its
// own thin file (parse, compile options, call the room that does the work, map errors to exit
// codes). Only the subcommand being run is imported: loading every room (fastify, sqlite, the
// HTTP client...) took ~0.45 s per start on our 2-core machines, which every `distcomp submit`
// would pay.
import { readFileSync } from 'node:fs';
import type { Command } from 'commander';

await runWithCommander();

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
