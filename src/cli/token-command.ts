// `distcomp token create|list|revoke`: API tokens. `create` prints only the new token on
// stdout (so `TOKEN=$(distcomp token create NAME)` works); nothing else ever prints it whole.
import { Command } from 'commander';
import { Accounts } from '../server/accounts.ts';
import { DATA_DIR_OPTION, withStore } from './with-store.ts';
import { action, CliError } from './cli-errors.ts';

const iso = (t: number | null): string => (t === null ? '-' : new Date(t).toISOString());

export function tokenCommand(): Command {
  const cmd = new Command('token').description('manage API tokens (64 hex characters, stored hashed)');
  cmd.command('create <user>')
    .description('create a token for a user and print it (only now, only on stdout)')
    .option(...DATA_DIR_OPTION)
    .option('--label <text>', 'what the token is for')
    .action(action('token create', async (user: string, o: { dataDir: string; label?: string }) => {
      await withStore(o.dataDir, async (store) => {
        const { token, row } = new Accounts(store).createToken(user, o.label ?? null);
        process.stdout.write(`${token}\n`);
        process.stderr.write(`token ${row.id} (${row.hint}…) created for "${user}"; it is not shown again\n`);
      });
    }));
  cmd.command('list')
    .option(...DATA_DIR_OPTION)
    .option('--user <name>', 'only this user\'s tokens')
    .action(action('token list', async (o: { dataDir: string; user?: string }) => {
      await withStore(o.dataDir, async (store) => {
        process.stdout.write('id\tuser\tstarts with\tcreated\tlast used\trevoked\tlabel\n');
        for (const t of store.listTokens(o.user)) {
          process.stdout.write(`${t.id}\t${t.userName}\t${t.hint}…\t${iso(t.createdAt)}\t${iso(t.lastUsedAt)}\t${iso(t.revokedAt)}\t${t.label ?? ''}\n`);
        }
      });
    }));
  cmd.command('revoke <id>')
    .description('revoke a token by its id (tok_...) or its first 6 characters')
    .option(...DATA_DIR_OPTION)
    .action(action('token revoke', async (id: string, o: { dataDir: string }) => {
      await withStore(o.dataDir, async (store) => {
        const rows = store.revokeToken(id);
        if (rows.length === 0) throw new CliError(`no live token matches "${id}" (see: distcomp token list)`);
        for (const r of rows) process.stderr.write(`revoked ${r.id} (${r.hint}…) of "${r.userName}"\n`);
      });
    }));
  return cmd;
}
