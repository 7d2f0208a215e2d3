// Opens the relay's store for a management subcommand and always closes it.
import { SqliteStore } from '../store/sqlite/sqlite-store.ts';

export const DATA_DIR_OPTION = ['--data-dir <dir>', "the relay's data directory", './.distcomp'] as const;

export async function withStore<T>(dataDir: string, fn: (store: SqliteStore) => T | Promise<T>): Promise<T> {
  const store = new SqliteStore(dataDir);
  try {
    return await fn(store);
  } finally {
    store.close();
  }
}
