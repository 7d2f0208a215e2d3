// `distcomp submit`'s options, once, and a reader of its ordinary command lines that does not
// load commander (plain-argv.ts): program A runs submit once per module run, and its wall time
// is measured against the CLI's start (issue 4). The commander definition (submit-command.ts)
// is built from the same table and serves help, errors and every line this reader declines,
// among them a deployed parameter that starts with "-" ("-n 4"), which commander passes on as
// a positional.
import type { SubmitFlags } from '../workflow/submit-options.ts';
import { plainArgvReader, type CliOption } from './plain-argv.ts';

export const SUBMIT_CLI_OPTIONS: readonly CliOption[] = [
  { flags: '--url <url>', description: 'the relay, e.g. https://nims.mintsys.jp (":50443" is added when no port is given)' },
  { flags: '--site <id>', description: 'the site id of the external computer' },
  { flags: '--command <path>', description: 'the command the external computer runs (allowed for the site on the relay and on the computer)' },
  { flags: '--in <file>', description: 'an input file, or NAME=FILE to send it under another name; repeatable', repeatable: true },
  {
    flags: '--result <name>', repeatable: true,
    description: 'a file wanted back (relative name); repeatable. 計算標準出力.txt and 計算標準エラー出力.txt always come back',
  },
  { flags: '--parameters <text>', description: 'text passed to the command (split into arguments by shell quoting rules; no shell runs)' },
  { flags: '--out <dir>', description: 'write result files here instead of the current directory (created if missing)' },
  { flags: '--token-file <file>', description: 'read the API token from this file (yours, mode 600); else DISTCOMP_TOKEN' },
  { flags: '--port <n>', description: 'port when the base url names none; default 50443' },
  { flags: '--wait <seconds>', description: 'long-poll wait asked of the relay, 1..60; default 30' },
  { flags: '--poll-interval <seconds>', description: 'pause between progress checks of a relay without long polling; default 3' },
  { flags: '--retry <count,interval>', description: 'network retries of each call and seconds between them; default 3,2' },
  { flags: '--insecure', description: 'do not verify the relay\'s TLS certificate (dangerous)' },
  { flags: '--ca-file <pem>', description: 'also trust these CA certificates' },
  { flags: '-q, --quiet', description: 'print only errors (and the stderr of an abnormal calc)' },
];

const readSubmitArgv = plainArgvReader(SUBMIT_CLI_OPTIONS);

/**
 * The positionals and flags of the arguments after `submit`, or undefined when this command
 * line is one for commander (see plainArgvReader()).
 */
export function parseSubmitArgv(args: readonly string[]): { positionals: string[]; flags: SubmitFlags } | undefined {
  const r = readSubmitArgv(args);
  return r && { positionals: r.positionals, flags: r.flags as SubmitFlags };
}
