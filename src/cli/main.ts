#!/usr/bin/env node
// The one command-line program `distcomp`; each subcommand lives in its own thin file
// (parse, compile options, call the room that does the work, map errors to exit codes).
import { Command } from 'commander';
import { readFileSync } from 'node:fs';
import { serverCommand } from './server-command.ts';
import { userCommand } from './user-command.ts';
import { tokenCommand } from './token-command.ts';
import { sshCommand } from './ssh-command.ts';
import { startCommand } from './start-command.ts';
import { agentCommand } from './agent-command.ts';
import { submitCommand } from './submit-command.ts';

const pkg = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string };

const program = new Command('distcomp')
  .description('External computing resources for MInt workflows (WebAPI relay, polling agent, submit, SSH method)')
  .version(pkg.version)
  .showHelpAfterError()
  .enablePositionalOptions();

// subcommands: one line each
program.addCommand(serverCommand());
program.addCommand(userCommand());
program.addCommand(tokenCommand());
program.addCommand(agentCommand());
program.addCommand(submitCommand());
program.addCommand(sshCommand());
program.addCommand(startCommand());

await program.parseAsync(process.argv);
