// `distcomp user add|list|passwd`: accounts on the relay's data directory.
import { Command } from 'commander';
import { Accounts } from '../server/accounts.ts';
import { DATA_DIR_OPTION, withStore } from './with-store.ts';
import { action, CliError, readStdin } from './cli-errors.ts';


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
    .option(...DATA_DIR_OPTION)
    .option('--password-stdin', 'read a password from standard input')
    .action(action('user add', async (name: string, o: { dataDir: string; passwordStdin?: boolean }) => {
      const pw = await passwordFrom(o);
      await withStore(o.dataDir, async (store) => {
        const u = await new Accounts(store).addUser(name, pw);
        process.stderr.write(`user "${u.name}" added${pw ? ' with a password' : ''}\n`);
      });
    }));
  cmd.command('passwd <name>')
    .description('set a user\'s password, read from standard input')
    .option(...DATA_DIR_OPTION)
    .action(action('user passwd', async (name: string, o: { dataDir: string }) => {
      const pw = await passwordFrom({ passwordStdin: true });
      await withStore(o.dataDir, async (store) => {
        await new Accounts(store).setPassword(name, pw as string);
        process.stderr.write(`password of "${name}" set\n`);
      });
    }));
  cmd.command('list')
    .option(...DATA_DIR_OPTION)
    .action(action('user list', async (o: { dataDir: string }) => {
      await withStore(o.dataDir, async (store) => {
        for (const u of store.listUsers()) process.stdout.write(`${u.name}\t${new Date(u.createdAt).toISOString()}\n`);
      });
    }));
  return cmd;
}
