// `distcomp user add|list|passwd`: accounts on the relay's data directory.
import { Command } from 'commander';
import { Accounts } from '../server/accounts.ts';
import { SqliteStore } from '../store/sqlite/sqlite-store.ts';
import { action, CliError, readStdin } from './cli-errors.ts';

const dataDirOpt = ['--data-dir <dir>', 'the relay\'s data directory', './.distcomp'] as const;

async function passwordFrom(o: { passwordStdin?: boolean }): Promise<string | null> {
  if (!o.passwordStdin) return null;
  const pw = (await readStdin()).replace(/\r?\n$/, '');
  if (pw.length < 8) throw new CliError('the password must be at least 8 characters');
  return pw;
}

export function userCommand(): Command {
  const cmd = new Command('user').description('manage users of the relay');
  cmd.command('add <name>')
    .description('add a user (with --password-stdin, a password for `login`)')
    .option(...dataDirOpt)
    .option('--password-stdin', 'read a password from standard input')
    .action(action('user add', async (name: string, o: { dataDir: string; passwordStdin?: boolean }) => {
      const pw = await passwordFrom(o);
      const store = new SqliteStore(o.dataDir);
      try {
        const u = await new Accounts(store).addUser(name, pw);
        process.stderr.write(`user "${u.name}" added${pw ? ' with a password' : ''}\n`);
      } finally {
        store.close();
      }
    }));
  cmd.command('passwd <name>')
    .description('set a user\'s password, read from standard input')
    .option(...dataDirOpt)
    .action(action('user passwd', async (name: string, o: { dataDir: string }) => {
      const pw = await passwordFrom({ passwordStdin: true });
      const store = new SqliteStore(o.dataDir);
      try {
        await new Accounts(store).setPassword(name, pw as string);
        process.stderr.write(`password of "${name}" set\n`);
      } finally {
        store.close();
      }
    }));
  cmd.command('list')
    .option(...dataDirOpt)
    .action(action('user list', (o: { dataDir: string }) => {
      const store = new SqliteStore(o.dataDir);
      try {
        for (const u of store.listUsers()) process.stdout.write(`${u.name}\t${new Date(u.createdAt).toISOString()}\n`);
      } finally {
        store.close();
      }
    }));
  return cmd;
}
