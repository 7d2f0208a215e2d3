// `distcomp server`: the relay.
import { Command, Option } from 'commander';
import { startServer } from '../server/start-server.ts';
import { action } from './cli-errors.ts';

export function serverCommand(): Command {
  return new Command('server')
    .description('run the relay server (the MInt distcomp WebAPI)')
    .requiredOption('--config <file>', 'mi_distributed_computing_assist.ini')
    .option('--data-dir <dir>', 'database and stored files', './.distcomp')
    .option('--port <n>', 'listen on this port instead of [Server] portnumber', (v) => parsePort(v))
    .option('--host <address>', 'listen on this address instead of [Server] ipaddress')
    .option('--cert <pem>', 'TLS certificate: serve HTTPS (the public port is 50443)')
    .option('--key <pem>', 'TLS private key')
    .addOption(new Option('--log-level <level>', 'override the INI loglevel').choices(['fatal', 'error', 'warn', 'info', 'debug', 'trace']))
    .action(action('server', async (o: { config: string; dataDir: string; port?: number; host?: string; cert?: string; key?: string; logLevel?: string }) => {
      const s = await startServer({
        configPath: o.config, dataDir: o.dataDir, port: o.port, host: o.host, certFile: o.cert, keyFile: o.key, logLevel: o.logLevel,
      });
      // always shown, whatever the log level: operators and scripts look for this line
      process.stderr.write(`distcomp server: listening on ${s.url} (data ${o.dataDir}, config ${o.config})\n`);
      let stopping = false;
      const stop = (signal: string): void => {
        if (stopping) process.exit(130);
        stopping = true;
        s.log.info({ signal }, 'stopping');
        void s.close().then(() => process.exit(0));
      };
      process.on('SIGINT', () => stop('SIGINT'));
      process.on('SIGTERM', () => stop('SIGTERM'));
      await new Promise(() => {});
    }));
}

export function parsePort(v: string): number {
  const n = Number(v);
  if (!/^\d+$/.test(v) || n > 65535) throw new Error(`not a port number: ${v}`);
  return n;
}
