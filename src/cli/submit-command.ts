// `distcomp submit`: the workflow side (program A calls it, as it called mi-system-wf.py).
// Parse, compile options, run, map errors to exit codes: 0 completed, 1 abnormal,
// 2 usage or connection error, 130/143 interrupted (the calc was cancelled on the relay).
import { Command } from 'commander';
import { HttpOptionsError } from '../client/http-options.ts';
import { runSubmit, SubmitError } from '../workflow/run-submit.ts';
import { compileSubmitOptions, SubmitOptionsError, type SubmitFlags } from '../workflow/submit-options.ts';
import { action, CliError, EXIT } from './cli-errors.ts';

const collect = (v: string, prev: string[] = []): string[] => [...prev, v];

export function submitCommand(): Command {
  return new Command('submit')
    .description('register a calc on the relay, let the external computer run it, wait, and write its result files here')
    .usage('<base url> <site id> [api token] <command> <infiles> <result files> [parameter]   or   --url URL --site ID --command CMD [--in FILE]... [--result NAME]...')
    .argument('[args...]', 'the deployed program\'s arguments; infiles and result files are colon-separated lists')
    .option('--url <url>', 'the relay, e.g. https://nims.mintsys.jp (":50443" is added when no port is given)')
    .option('--site <id>', 'the site id of the external computer')
    .option('--command <path>', 'the command the external computer runs (allowed for the site on the relay and on the computer)')
    .option('--in <file>', 'an input file, or NAME=FILE to send it under another name; repeatable', collect)
    .option('--result <name>', 'a file wanted back (relative name); repeatable. 計算標準出力.txt and 計算標準エラー出力.txt always come back', collect)
    .option('--parameters <text>', 'text passed to the command (split into arguments by shell quoting rules; no shell runs)')
    .option('--out <dir>', 'write result files here instead of the current directory (created if missing)')
    .option('--token-file <file>', 'read the API token from this file (yours, mode 600); else DISTCOMP_TOKEN')
    .option('--port <n>', 'port when the base url names none; default 50443')
    .option('--wait <seconds>', 'long-poll wait asked of the relay, 1..60; default 30')
    .option('--poll-interval <seconds>', 'pause between progress checks of a relay without long polling; default 3')
    .option('--retry <count,interval>', 'network retries of each call and seconds between them; default 3,2')
    .option('--insecure', 'do not verify the relay\'s TLS certificate (dangerous)')
    .option('--ca-file <pem>', 'also trust these CA certificates')
    .option('-q, --quiet', 'print only errors (and the stderr of an abnormal calc)')
    // the deployed grammar's last argument (the parameter) may start with "-" ("-n 4");
    // compileSubmitOptions() refuses anything else that looks like an option
    .allowUnknownOption()
    .addHelpText('after', `
Exit status: 0 completed, 1 abnormal (its 計算標準エラー出力.txt is shown on stderr), 2 usage or
connection error, 130/143 interrupted by Ctrl+C/SIGTERM (the calc is cancelled on the relay).

Examples:
  distcomp submit https://nims.mintsys.jp nims-dev $TOKEN /opt/mi-remote/abaqus.sh XX.inp:XX.dat XX.odb:XX.dat
  DISTCOMP_TOKEN=... distcomp submit https://nims.mintsys.jp nims-dev /opt/fem/run.sh a.dat:b.dat out.csv "-n 4"
  distcomp submit --url https://relay:443 --site nims-dev --token-file ~/.distcomp-token \\
      --command /opt/fem/run.sh --in a.dat --in b.dat --result out.csv --out results/`)
    .action(action('submit', async (args: string[], flags: SubmitFlags) => {
      let opts;
      try {
        opts = compileSubmitOptions({ positionals: args, flags, env: process.env, cwd: process.cwd() });
      } catch (err) {
        if (err instanceof SubmitOptionsError) throw new CliError(err.message, EXIT.usage, { cause: err });
        throw err;
      }
      const interrupt = new AbortController();
      const onSignal = (signal: NodeJS.Signals): void => {
        if (interrupt.signal.aborted) process.exit(signal === 'SIGTERM' ? 143 : 130);
        process.stderr.write(`distcomp submit: ${signal}: cancelling the calc on the relay (again to exit at once)\n`);
        interrupt.abort(signal);
      };
      process.on('SIGINT', onSignal);
      process.on('SIGTERM', onSignal);
      try {
        const r = await runSubmit(opts, {
          out: (l) => process.stdout.write(`${l}\n`),
          err: (l) => process.stderr.write(`distcomp submit: ${l}\n`),
          errRaw: (t) => process.stderr.write(t),
        }, interrupt.signal);
        return r.exitCode;
      } catch (err) {
        if (err instanceof SubmitError) throw new CliError(err.message, err.exitCode, { cause: err });
        if (err instanceof HttpOptionsError) throw new CliError(err.message, EXIT.usage, { cause: err });
        throw err;
      } finally {
        process.off('SIGINT', onSignal);
        process.off('SIGTERM', onSignal);
      }
    }));
}
