// `distcomp agent <site id> <base url> [token|login] [words...]`: the polling agent for an
// external computer. The manual's words (port:N retry:COUNT,INTERVAL no_auth[:CAFILE]
// calc_base:DIR debug) and the same as flags.
import { readFileSync } from 'node:fs';
import { Command, Option } from 'commander';
import { AgentOptionsError, compileAgentOptions, type AgentFlags } from '../agent/agent-options.ts';
import { promptCredentials } from '../agent/login-prompt.ts';
import { runAgent } from '../agent/run-agent.ts';
import { HttpOptionsError } from '../client/http-options.ts';
import { action, CliError, EXIT } from './cli-errors.ts';

const collect = (v: string, prev: string[] = []): string[] => [...prev, v];

export function agentCommand(): Command {
  return new Command('agent')
    .description('the polling agent of an external computer: takes the calcs of its site from the relay, runs them, returns the results')
    .argument('<site-id>', 'the site id (識別子) given by the MInt operators')
    .argument('<base-url>', 'the relay, e.g. https://nims.mintsys.jp (":50443" is added when no port is given)')
    .argument('[token-and-words...]', 'the API token or "login" (optional with --token-file or DISTCOMP_TOKEN), then the words port:N retry:COUNT,INTERVAL no_auth no_auth:CAFILE calc_base:DIR debug')
    .option('--port <n>', 'port when the base url names none (word port:N)', undefined)
    .option('--retry <count,interval>', 'network retries and seconds between them (word retry:COUNT,INTERVAL); default 5,60')
    .option('--insecure', 'do not verify the relay\'s TLS certificate (word no_auth); dangerous')
    .option('--ca-file <pem>', 'also trust these CA certificates (word no_auth:CAFILE)')
    .option('--calc-base <dir>', 'where working directories are made (word calc_base:DIR); default /tmp')
    .option('--debug', 'print every request and step (word debug)')
    .option('--token-file <file>', 'read the API token from this file (mode 600, yours)')
    .option('--rules <file>', 'the administrator\'s rules (JSON); default ~/.config/distcomp/agent-rules.json, then /etc/distcomp/agent-rules.json')
    .option('--allow-command <path>', 'allow this command (absolute path) in addition to the rules file; repeatable', collect)
    .option('--concurrency <n>', 'calcs run at the same time; default 1')
    .option('--wait <seconds>', 'long-poll wait asked of the relay; default 60')
    .option('--poll-interval <seconds>', 'pause between polls of a relay without long polling; default 10')
    .option('--kill-grace <seconds>', 'after a second Ctrl+C or a cancel from the workflow side, SIGTERM then SIGKILL after this long; default 5')
    .option('--log-file <file>', 'also append one JSON line per event to this file')
    .option('--blob-min-bytes <n>', 'files of at least this many bytes travel as blobs (streamed, verified, resumable) when the relay has them; default 1048576')
    // tests only: the fault suite runs an agent whose wall clock is an hour off
    .addOption(new Option('--clock-skew-ms <ms>', 'offset this process\'s wall clock (tests)').hideHelp())
    .addHelpText('after', `
The token is read, in this order, from the third argument, --token-file, or the environment
variable DISTCOMP_TOKEN. "login" asks for a login id and a password instead (two lines on
standard input when it is not a terminal). Ctrl+C (or SIGTERM) once: no new calc, running
calcs finish, then exit. Twice: running commands are stopped and reported abnormal.

Examples:
  distcomp agent nims-dev https://nims.mintsys.jp --token-file ~/.distcomp-token
  distcomp agent nims-dev https://nims.mintsys.jp login port:443 retry:10,30 calc_base:/work/calc`)
    .action(action('agent', async (siteId: string, baseUrl: string, rest: string[], flags: AgentFlags) => {
      let opts;
      try {
        opts = compileAgentOptions({ siteId, baseUrl, rest, flags, env: process.env });
      } catch (err) {
        if (err instanceof AgentOptionsError || err instanceof HttpOptionsError) throw new CliError(err.message, EXIT.usage, { cause: err });
        throw err;
      }
      const pkg = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string };
      try {
        return await runAgent(opts, {
          write: (t) => process.stdout.write(t),
          credentials: () => promptCredentials(),
          version: pkg.version,
        });
      } catch (err) {
        if (err instanceof HttpOptionsError) throw new CliError(err.message, EXIT.usage, { cause: err });
        throw err;
      }
    }));
}
