// The agent's screen: the lines the manual shows (4.8.1, 5.5), one per event, and a few of
// our own in the same style (`YYYY/MM/DD hh:mm:ss:` prefix). A poll that gets the same answer
// as the last one prints nothing; when something else happens, one line says how often the
// idle line repeated, so an idle agent does not flood the screen (or a systemd journal).
import type { AgentEvent } from './agent-events.ts';

const pad = (n: number): string => String(n).padStart(2, '0');

/** `2022/01/19 17:33:56` in local time, as the deployed poller printed it. */
export function stamp(d: Date = new Date()): string {
  return `${d.getFullYear()}/${pad(d.getMonth() + 1)}/${pad(d.getDate())} ${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}`;
}

export interface ConsoleViewOptions {
  write: (text: string) => void;
  /** Print every request and step (the `debug` word). */
  debug: boolean;
  now?: () => Date;
}

export class ConsoleView {
  private lastIdle: string | null = null;
  private repeats = 0;
  private lastIdleAt: Date | null = null;

  constructor(private readonly o: ConsoleViewOptions) {}

  private now(): Date {
    return this.o.now?.() ?? new Date();
  }

  private flushRepeats(): void {
    if (this.repeats > 0 && this.lastIdleAt) {
      this.o.write(`(同じ応答 ${this.repeats} 回 / the line above repeated ${this.repeats} more times, last at ${stamp(this.lastIdleAt)})\n`);
    }
    this.repeats = 0;
    this.lastIdle = null;
  }

  private line(text: string, withStamp = true): void {
    this.flushRepeats();
    this.o.write(`${withStamp ? `${stamp(this.now())}:` : ''}${text}\n`);
  }

  /** Renders one event (the JSON log gets every event; the screen only these lines). */
  show(e: AgentEvent): void {
    switch (e.type) {
      case 'start':
        this.line(`site id = ${e.siteId}`, false);
        this.line(`base url = ${e.origin}`, false);
        this.line(`token = ${e.token}${e.tokenFrom ? ` (${e.tokenFrom})` : ''}`, false);
        this.line(`calc_base = ${e.calcBase}`, false);
        this.line(`rules = ${e.rules} (allowed commands: ${e.allowedCommands.join(' ')})`, false);
        if (e.concurrency > 1) this.line(`concurrency = ${e.concurrency}`, false);
        return;
      case 'warning':
        this.line(`WARNING: ${e.text}`);
        return;
      case 'send':
        if (this.o.debug || e.first) this.line(`send ${e.url}`);
        return;
      case 'long-poll':
        if (this.o.debug) this.line(e.available ? 'the relay supports long polling: calcs start as soon as they are allowed' : 'the relay does not announce long polling: plain polling');
        return;
      case 'idle': {
        const text = `code = ${String(e.code)} / message = ${e.message}`;
        if (!this.o.debug && text === this.lastIdle) {
          this.repeats++;
          this.lastIdleAt = this.now();
          return;
        }
        this.flushRepeats();
        this.o.write(`${text}\n`);
        this.lastIdle = text;
        this.lastIdleAt = this.now();
        return;
      }
      case 'http-refused':
        this.line(`status code = ${e.httpStatus} / reason = ${e.body}`);
        return;
      case 'protocol-failure':
        this.flushRepeats();
        this.o.write(`code = ${String(e.code)} / message = ${e.message}${e.acceptId ? ` (${e.endpoint}, accept_id ${e.acceptId})` : ''}\n`);
        return;
      case 'retry':
        this.line(`通信失敗 / network failure (${e.endpoint}: ${e.reason}); retry ${e.retry}/${e.retries} in ${(e.delayMs / 1000).toFixed(e.delayMs < 1000 ? 2 : 1)} s`);
        return;
      case 'gave-up':
        this.line(`通信失敗: リトライ回数を超えました / gave up after ${e.retries} retries (${e.endpoint}: ${e.reason})`);
        return;
      case 'resume':
        this.line(`resume accept_id ${e.acceptId} from step "${e.phase}" (found its journal)`);
        return;
      case 'claimed':
        this.line(`accept_id ${e.acceptId}: calc received${e.attempt !== null && e.attempt > 1 ? ` (attempt ${e.attempt})` : ''}`);
        return;
      case 'step':
        if (this.o.debug) this.line(`accept_id ${e.acceptId}: ${e.step}${e.note ? ` (${e.note})` : ''}`);
        return;
      case 'calc-refused':
        this.line(`accept_id ${e.acceptId}: NOT RUN: ${e.reason}`);
        return;
      case 'command-start':
        this.line(`accept_id ${e.acceptId}: run ${e.command} (${e.args.length} arguments) pid ${e.pid} in ${e.workdir}`);
        return;
      case 'command-exit':
        this.line(`accept_id ${e.acceptId}: command ended, ${e.signal ? `signal ${e.signal}` : `exit code ${String(e.exitCode)}`}${e.killedByAgent ? ' (stopped by the agent)' : ''}`);
        return;
      case 'results':
        if (this.o.debug || e.missing.length > 0 || e.refused.length > 0) {
          const parts = [`sent ${e.sent.length}`];
          if (e.missing.length) parts.push(`missing: ${e.missing.join(', ')}`);
          for (const r of e.refused) parts.push(`not sent ${r.name}: ${r.reason}`);
          this.line(`accept_id ${e.acceptId}: results: ${parts.join('; ')}`);
        }
        return;
      case 'calc-done':
        this.line(`accept_id ${e.acceptId}: ${e.result === 'calc end' ? 'completed' : `abnormal${e.reason ? `: ${e.reason}` : ''}`}; results returned`);
        return;
      case 'calc-abandoned':
        this.line(`accept_id ${e.acceptId}: given up: ${e.reason}`);
        return;
      case 'lease':
        if (e.state === 'no-contact') this.line(`accept_id ${e.acceptId}: heartbeat not answered (${e.reason}); the command keeps running, heartbeats go on`);
        else if (e.state === 'reconnected') this.line(`accept_id ${e.acceptId}: heartbeat answered again: ${e.reason}`);
        else if (e.state === 'cancelled') this.line(`accept_id ${e.acceptId}: CANCELLED: ${e.reason}; stopping the command, sending nothing`);
        else this.line(`accept_id ${e.acceptId}: LEASE LOST: ${e.reason}; stopping the command, sending nothing`);
        return;
      case 'workdir-removed':
        if (this.o.debug) this.line(`removed ${e.path}`);
        return;
      case 'interrupt':
        if (e.outcome === 'drain') {
          this.line('Ctrl + C スクリプト停止要求受付', false);
          this.line(e.running > 0
            ? `stop requested: no new calc is taken; ${e.running} running calc(s) finish and send their results first (Ctrl+C again to stop them now)`
            : 'stop requested: no calc is running; exiting');
        } else if (e.outcome === 'stop') {
          this.line('Ctrl + C (2回目) 計算を停止します');
          this.line('second stop request: stopping the running command(s); their calcs are reported abnormal');
        } else {
          this.line('third stop request: exiting now; unfinished calcs resume when the agent is started again');
        }
        return;
      case 'state':
        if (this.o.debug) this.line(`state ${e.from} -> ${e.to} (${e.why})`);
        return;
      case 'fatal':
        this.line(`ERROR: ${e.message}`);
        return;
      case 'exit':
        this.flushRepeats();
        return;
    }
  }
}
