// `distcomp start` (what `npm start` runs): the relay on the embedded default, in ./.distcomp,
// with a demo user, site and token, so a newcomer sees it work with no configuration.
import { Command } from 'commander';
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { Accounts } from '../server/accounts.ts';
import { startServer } from '../server/start-server.ts';
import { SqliteStore } from '../store/sqlite/sqlite-store.ts';
import { action } from './cli-errors.ts';
import { parsePort } from './server-command.ts';

export const DEMO_SITE = 'demo-site';
export const DEMO_USER = 'demo';

export function demoIni(port: number, commands: string[]): string {
  return `[Server]
ipaddress = 127.0.0.1
portnumber = ${port}
loglevel = 2

[RemoteSites]
remote_site_ids = ${DEMO_SITE}

[${DEMO_SITE}]
commands = ${commands.join('\n\t')}
`;
}

export function startCommand(): Command {
  return new Command('start')
    .description('run the relay on the embedded default (./.distcomp) with a demo user, site and token')
    .option('--dir <dir>', 'where everything lives', './.distcomp')
    .option('--port <n>', 'port to listen on', (v) => parsePort(v), 8082)
    .action(action('start', async (o: { dir: string; port: number }) => {
      const dir = resolve(o.dir);
      mkdirSync(dir, { recursive: true, mode: 0o700 });
      const ini = join(dir, 'mi_distributed_computing_assist.ini');
      if (!existsSync(ini)) writeFileSync(ini, demoIni(o.port, ['/bin/echo', '/usr/bin/env']));
      const dataDir = join(dir, 'data');
      const store = new SqliteStore(dataDir);
      let token: string;
      try {
        const acc = new Accounts(store);
        if (!store.findUser(DEMO_USER)) await acc.addUser(DEMO_USER, null);
        token = acc.createToken(DEMO_USER, 'npm start demo').token;
      } finally {
        store.close();
      }
      const tokenFile = join(dir, 'demo-token');
      writeFileSync(tokenFile, `${token}\n`, { mode: 0o600 });
      const s = await startServer({ configPath: ini, dataDir, port: o.port });
      process.stderr.write([
        '',
        `distcomp relay listening on ${s.url}/mi-distcomp-api/`,
        `  data dir      ${dataDir}`,
        `  configuration ${ini}`,
        `  demo user     ${DEMO_USER}`,
        `  demo site     ${DEMO_SITE} (commands: /bin/echo, /usr/bin/env)`,
        `  demo token    ${token}   (also in ${tokenFile}, mode 600)`,
        '',
        'try:',
        `  curl -H "Authorization: Bearer $(cat ${tokenFile})" "${s.url}/mi-distcomp-api/calc-request?site_id=${DEMO_SITE}"`,
        'Ctrl+C stops it.',
        '',
      ].join('\n'));
      const stop = (): void => void s.close().then(() => process.exit(0));
      process.once('SIGINT', stop);
      process.once('SIGTERM', stop);
      await new Promise(() => {});
    }));
}
