// The relay's log lines of one turn of the event loop, written together at its end: one write
// instead of one per line. A calc's walk logs 10 lines ("every state change"), 2-4 per request,
// and every write to a pipe (systemd's journal, a terminal, a test's capture) is a system call
// that also wakes the reader. The lines of a turn are the state changes of that turn's group
// commit (store/sqlite/group-commit.ts), which is committed in the same phase of the loop, so a
// kill -9 loses the lines of a turn only together with its uncommitted changes. A normal exit
// (or a crash reported through process.exit) writes what is pending.
export class TurnBatchedLog {
  private lines: string[] = [];
  private scheduled = false;
  private closed = false;
  private readonly atExit = (): void => this.flush();

  constructor(private readonly out: NodeJS.WritableStream) {
    process.once('exit', this.atExit);
  }

  /** Writes what is pending; later lines are written at once, one each. */
  close(): void {
    process.removeListener('exit', this.atExit);
    this.flush();
    this.closed = true;
  }

  /** pino's destination interface: one whole line per call. */
  write(line: string): boolean {
    if (this.closed) return this.out.write(line);
    this.lines.push(line);
    if (!this.scheduled) {
      this.scheduled = true;
      setImmediate(() => this.flush());
    }
    return true;
  }

  flush(): void {
    this.scheduled = false;
    if (this.lines.length === 0) return;
    const text = this.lines.join('');
    this.lines = [];
    this.out.write(text);
  }
}
