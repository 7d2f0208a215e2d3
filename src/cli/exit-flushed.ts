// Ends a CLI run that has nothing left to do: once stdout and stderr have handed every byte
// to the system, process.exit() skips the teardown of a natural exit (closing handles,
// freeing the environment), which took 3-10 ms of each `distcomp ssh` and `distcomp submit`
// run on our 2-core machines. Writes to pipes and files are synchronous on Linux, so the wait
// is normally empty; it matters where they are not (a pipe on macOS, a slow terminal).
//
// `streams`: those the run wrote to, when the caller knows (submit): Node creates process.stdout
// and process.stderr on first use, 1.5-4 ms each here, and a quiet submit that went well wrote
// to neither. The default touches (so creates) both.
export async function exitFlushed(code: number, streams: readonly NodeJS.WriteStream[] = [process.stdout, process.stderr]): Promise<never> {
  for (const s of streams) {
    if (s.writableLength > 0) await new Promise<void>((resolve) => s.write('', () => resolve()));
  }
  process.exit(code);
}
