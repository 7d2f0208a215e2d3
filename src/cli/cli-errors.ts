// Exit codes shared by every subcommand, and the one place a CLI turns an error into a
// message on stderr and an exit code.
export const EXIT = {
  ok: 0,
  /** the calc (or remote program) ended abnormally */
  abnormal: 1,
  /** usage, configuration or connection error */
  usage: 2,
} as const;

export class CliError extends Error {
  override readonly name = 'CliError';
  constructor(message: string, readonly exitCode: number = EXIT.usage, options?: { cause?: unknown }) {
    super(message, options);
  }
}

/** Runs a subcommand's action; prints a failure as `distcomp <cmd>: <message>` and exits. */
export function action<A extends unknown[]>(name: string, fn: (...a: A) => Promise<number | void> | number | void) {
  return async (...a: A): Promise<void> => {
    try {
      const code = await fn(...a);
      if (typeof code === 'number') process.exitCode = code;
    } catch (err) {
      const e = err as Error & { exitCode?: number };
      process.stderr.write(`distcomp ${name}: ${e.message}\n`);
      process.exitCode = typeof e.exitCode === 'number' ? e.exitCode : EXIT.usage;
    }
  };
}

/** Reads all of stdin (for passwords and tokens given through a pipe). */
export async function readStdin(): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const c of process.stdin) chunks.push(c as Buffer);
  return Buffer.concat(chunks).toString('utf8');
}
