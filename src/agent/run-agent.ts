// The agent put together: the client, the views, the lifecycle and its signals, the resume
// of calcs a previous run left unfinished, the retention timer, and the poll loop. Returns the
// process exit code; never calls process.exit itself except for a third Ctrl+C.
import { appendFileSync } from 'node:fs';
import {
  BadAnswer, ProtocolFailure, RelayRefused, RelayTlsFailure, RelayUnavailable, RelayUnreachable,
} from '../client/client-errors.ts';
import { RelayClient } from '../client/relay-client.ts';
import { maskToken } from '../protocol/token-mask.ts';
import type { AgentEvent } from './agent-events.ts';
import type { AgentOptions } from './agent-options.ts';
import { installClockSkew } from './clock-skew.ts';
import { ConsoleView } from './console-view.ts';
import { unfinishedCalcs } from './journal.ts';
import { Lifecycle } from './lifecycle.ts';
import { LoginPromptError, type Credentials } from './login-prompt.ts';
import { pollLoop, type PollState } from './poll-loop.ts';
import { driveCalc, type CalcContext } from './process-calc.ts';
import { pruneWorkdirs } from './workdir.ts';

export const AGENT_EXIT = {
  /** Stopped on request after running calcs finished. */
  ok: 0,
  /** A failure retrying cannot fix (403, unknown site id, network gone after the retries). */
  failure: 2,
  /** Stopped by a second Ctrl+C (running commands were killed and reported abnormal). */
  interrupted: 130,
} as const;

export interface AgentIo {
  /** Where the screen lines go. */
  write: (text: string) => void;
  /** For `login`: asks for the login id and password. */
  credentials: () => Promise<Credentials>;
  /** Installs SIGINT/SIGTERM handlers (off in in-process tests). @default true */
  handleSignals?: boolean;
  /** Called on a third Ctrl+C. */
  exitNow?: (code: number) => void;
  version?: string;
}

/** The message for a failure that ends the agent, plus the manual's line for it when there is one. */
function explain(err: unknown, opts: AgentOptions, emit: (e: AgentEvent) => void): string {
  if (err instanceof RelayRefused) {
    emit({ type: 'http-refused', endpoint: err.endpoint, httpStatus: err.httpStatus, body: err.body });
    return `the relay refused the token (HTTP ${err.httpStatus}): check that it is valid, not revoked, and belongs to the user who runs the workflow`;
  }
  if (err instanceof ProtocolFailure) {
    emit({ type: 'protocol-failure', endpoint: err.endpoint, code: err.code, message: err.protocolMessage });
    if (err.endpoint === 'calc-request' && String(err.code) === '400') {
      return `the relay does not accept site id "${opts.siteId}" for this token: check the site id with the MInt operators`;
    }
    return `the relay refused ${err.endpoint}: code ${String(err.code)}`;
  }
  if (err instanceof RelayUnreachable || err instanceof RelayUnavailable) {
    const reason = err instanceof RelayUnreachable ? err.reason : `HTTP ${err.httpStatus}`;
    emit({ type: 'gave-up', endpoint: err.endpoint, reason, retries: opts.retry.retries });
    return `cannot reach the relay at ${opts.origin} (${reason}) after ${opts.retry.retries} retries ${opts.retry.intervalMs / 1000} s apart; ` +
      'unfinished calcs resume when the agent is started again (retry:COUNT,INTERVAL changes the retries)';
  }
  if (err instanceof RelayTlsFailure) {
    return `${err.message}. If the relay uses a private CA, give its certificate with no_auth:CAFILE`;
  }
  if (err instanceof BadAnswer || err instanceof LoginPromptError) return err.message;
  return `unexpected error: ${(err as Error)?.stack ?? String(err)}`;
}

export async function runAgent(opts: AgentOptions, io: AgentIo): Promise<number> {
  installClockSkew(opts.clockSkewMs);
  const lifecycle = new Lifecycle();
  const view = new ConsoleView({ write: io.write, debug: opts.debug });
  const emit = (e: AgentEvent): void => {
    view.show(e);
    if (opts.logFile !== null) {
      try {
        const ms = performance.timeOrigin + performance.now();
        appendFileSync(opts.logFile, `${JSON.stringify({ time: new Date(ms).toISOString(), ms: Math.round(ms * 1000) / 1000, pid: process.pid, siteId: opts.siteId, event: e.type, ...e })}\n`);
      } catch {
        // a full disk must not stop calcs; the screen still has the line
      }
    }
  };
  lifecycle.onChange((to, from, why) => emit({ type: 'state', from, to, why }));

  let sent = 0;
  const client = new RelayClient({
    baseUrl: opts.origin,
    token: opts.token.kind === 'token' ? opts.token.token : null,
    http: { verifyTls: opts.verifyTls, caFile: opts.caFile },
    retry: opts.retry,
    onRetry: (e) => emit({ type: 'retry', endpoint: e.endpoint, retry: e.retry, retries: e.retries, delayMs: e.delayMs, reason: e.reason }),
    onSend: (e) => {
      if (e.endpoint === 'calc-request') emit({ type: 'send', method: e.method, url: e.url, first: sent++ === 0 });
      else if (opts.debug) emit({ type: 'send', method: e.method, url: e.url, first: false });
    },
    userAgent: `distcomp-agent/${io.version ?? '0'}`,
  });
  const state: PollState = { running: new Set(), toldLongPoll: false, polled: false };

  const onSignal = (signal: NodeJS.Signals): void => {
    const outcome = lifecycle.interrupt(signal);
    emit({ type: 'interrupt', signal, outcome, running: state.running.size });
    if (outcome === 'exit-now') (io.exitNow ?? ((c: number) => process.exit(c)))(AGENT_EXIT.interrupted);
  };
  if (io.handleSignals !== false) {
    process.on('SIGINT', onSignal);
    process.on('SIGTERM', onSignal);
  }
  let pruneTimer: NodeJS.Timeout | null = null;
  let exitCode: number = AGENT_EXIT.failure;

  try {
    for (const w of opts.warnings) emit({ type: 'warning', text: w });
    let token: string;
    if (opts.token.kind === 'login') {
      const c = await io.credentials();
      try {
        token = await client.login(c.login, c.password, opts.loginLabel);
      } catch (err) {
        if (err instanceof RelayRefused) {
          emit({ type: 'fatal', message: `login refused: unknown login id or wrong password (status code = ${err.httpStatus})` });
          return exitCode;
        }
        throw err;
      }
      client.setToken(token);
    } else {
      token = opts.token.token;
    }
    emit({
      type: 'start', siteId: opts.siteId, origin: opts.origin, token: maskToken(token),
      tokenFrom: opts.token.kind === 'login' ? 'from login' : `from ${opts.token.from}`,
      calcBase: opts.calcBase, concurrency: opts.concurrency, rules: opts.rules.source, allowedCommands: opts.rules.allowedCommands,
    });

    if (opts.rules.keepDays !== null) {
      const days = opts.rules.keepDays;
      const prune = (): void => {
        for (const p of pruneWorkdirs(opts.calcBase, days)) emit({ type: 'workdir-removed', path: p });
      };
      prune();
      pruneTimer = setInterval(prune, 86_400_000);
      pruneTimer.unref();
    }

    const ctx: CalcContext = { client, opts, lifecycle, emit };
    // calcs a previous run of this agent left unfinished (kill -9, power loss, network gone)
    for (const { workdir, journal } of unfinishedCalcs(opts.calcBase, opts.siteId, opts.origin)) {
      if (lifecycle.state === 'STOPPING') break;
      emit({ type: 'resume', acceptId: journal.acceptId, phase: journal.phase });
      state.running.add(journal.acceptId);
      try {
        await driveCalc(ctx, workdir, { ...journal, agentPid: process.pid }, true);
      } finally {
        state.running.delete(journal.acceptId);
      }
    }
    await pollLoop(ctx, state);
    exitCode = lifecycle.state === 'STOPPING' ? AGENT_EXIT.interrupted : AGENT_EXIT.ok;
    lifecycle.finish('poll loop ended');
    return exitCode;
  } catch (err) {
    emit({ type: 'fatal', message: explain(err, opts, emit) });
    lifecycle.finish('fatal error');
    return AGENT_EXIT.failure;
  } finally {
    if (pruneTimer) clearInterval(pruneTimer);
    if (io.handleSignals !== false) {
      process.off('SIGINT', onSignal);
      process.off('SIGTERM', onSignal);
    }
    emit({ type: 'exit', code: exitCode });
    await client.close().catch(() => {});
  }
}
