// `distcomp submit`: the workflow side (program A calls it, as it called mi-system-wf.py), as a
// commander command built from the option table in submit-argv.ts. main.ts hands ordinary
// command lines to submit-argv.ts without loading commander; this definition serves help,
// errors, the full `distcomp --help`, and the lines that reader declines.
import { Command } from 'commander';
import type { SubmitFlags } from '../workflow/submit-options.ts';
import { addCliOptions } from './plain-argv.ts';
import { SUBMIT_CLI_OPTIONS } from './submit-argv.ts';
import { runSubmitCli } from './submit-run.ts';

/** `action` is replaceable so the tests can compare both readers on the same command lines. */
export function submitCommand(action: (positionals: string[], flags: SubmitFlags) => Promise<number> = runSubmitCli): Command {
  const command = new Command('submit')
    .description('register a calc on the relay, let the external computer run it, wait, and write its result files here')
    .usage('<base url> <site id> [api token] <command> <infiles> <result files> [parameter]   or   --url URL --site ID --command CMD [--in FILE]... [--result NAME]...')
    .argument('[args...]', 'the deployed program\'s arguments; infiles and result files are colon-separated lists');
  return addCliOptions(command, SUBMIT_CLI_OPTIONS)
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
    .action(async (args: string[], flags: SubmitFlags) => {
      process.exitCode = await action(args, flags);
    });
}
