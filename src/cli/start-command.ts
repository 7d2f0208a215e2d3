// `distcomp start` (what `npm start` runs): the verification module end to end on this
// computer (relay, demo user/site/token, a real agent, program A, distcomp submit), then
// everything stops. See src/demo/run-demo.ts.
import { Command } from 'commander';
import { DemoError, runDemo } from '../demo/run-demo.ts';
import { action, CliError, EXIT } from './cli-errors.ts';
import { parsePort } from './server-command.ts';

export function startCommand(): Command {
  return new Command('start')
    .description('run the verification workflow end to end on this computer (relay, agent, program A, submit) in ./.distcomp, then stop')
    .option('--dir <dir>', 'where everything lives', './.distcomp')
    .option('--port <n>', 'relay port (0: any free port)', (v) => parsePort(v), 0)
    .option('--keep-running', 'keep the relay and the agent running afterwards, until Ctrl+C')
    .option('--timeout <seconds>', 'longest time the verification calc may take', '60')
    .action(action('start', async (o: { dir: string; port: number; keepRunning?: boolean; timeout: string }) => {
      const timeoutS = Number(o.timeout);
      if (!Number.isFinite(timeoutS) || timeoutS <= 0) throw new CliError(`--timeout: expected seconds > 0, got ${JSON.stringify(o.timeout)}`);
      const interrupt = new AbortController();
      const onSignal = (signal: NodeJS.Signals): void => {
        if (interrupt.signal.aborted) process.exit(130);
        interrupt.abort(signal);
      };
      process.on('SIGINT', onSignal);
      process.on('SIGTERM', onSignal);
      try {
        return await runDemo(
          { dir: o.dir, port: o.port, keepRunning: o.keepRunning === true, timeoutMs: timeoutS * 1000 },
          { say: (l) => process.stdout.write(`${l}\n`) },
          interrupt.signal,
        );
      } catch (err) {
        if (err instanceof DemoError) throw new CliError(err.message, EXIT.abnormal, { cause: err });
        throw err;
      } finally {
        process.off('SIGINT', onSignal);
        process.off('SIGTERM', onSignal);
      }
    }));
}
