// `distcomp token create|list|revoke`: API tokens. `create` prints only the new token on
// stdout (so `TOKEN=$(distcomp token create NAME)` works); nothing else ever prints it whole.
import { Command } from 'commander';
import { Accounts } from '../server/accounts.ts';
import { SqliteStore } from '../store/sqlite/sqlite-store.ts';
import { action, CliError } from './cli-errors.ts';

const dataDirOpt = ['--data-dir <dir>', 'the relay\'s data directory', './.distcomp'] as const;
const iso = (t: number | null): string => (t === null ? '-' : new Date(t).toISOString());

export function tokenCommand(): Command {
  const cmd = new Command('token').description('manage API tokens (64 hex characters, stored hashed)');
  cmd.command('create <user>')
    .description('create a token for a user and print it (only now, only on stdout)')
    .option(...dataDirOpt)
    .option('--label <text>', 'what the token is for')
    .action(action('token create', (user: string, o: { dataDir: string; label?: string }) => {
      const store = new SqliteStore(o.dataDir);
      try {
        const { token, row } = new Accounts(store).createToken(user, o.label ?? null);
        process.stdout.write(`${token}\n`);
        process.stderr.write(`token ${row.id} (${row.hint}…) created for "${user}"; it is not shown again\n`);
      } finally {
        store.close();
      }
    }));
  cmd.command('list')
    .option(...dataDirOpt)
    .option('--user <name>', 'only this user\'s tokens')
    .action(action('token list', (o: { dataDir: string; user?: string }) => {
      const store = new SqliteStore(o.dataDir);
      try {
        process.stdout.write('id\tuser\tstarts with\tcreated\tlast used\trevoked\tlabel\n');
        for (const t of store.listTokens(o.user)) {
          process.stdout.write(`${t.id}\t${t.userName}\t${t.hint}…\t${iso(t.createdAt)}\t${iso(t.lastUsedAt)}\t${iso(t.revokedAt)}\t${t.label ?? ''}\n`);
        }
      } finally {
        store.close();
      }
    }));
  cmd.command('revoke <id>')
    .description('revoke a token by its id (tok_...) or its first 6 characters')
    .option(...dataDirOpt)
    .action(action('token revoke', (id: string, o: { dataDir: string }) => {
      const store = new SqliteStore(o.dataDir);
      try {
        const rows = store.revokeToken(id);
        if (rows.length === 0) throw new CliError(`no live token matches "${id}" (see: distcomp token list)`);
        for (const r of rows) process.stderr.write(`revoked ${r.id} (${r.hint}…) of "${r.userName}"\n`);
      } finally {
        store.close();
      }
    }));
  return cmd;
}
