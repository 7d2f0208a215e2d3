// Starts the relay: opens the data directory, reads the configuration, listens (HTTPS when
// given a certificate and key), runs the expiry and purge timers, and stops cleanly.
import { readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import type { FastifyInstance } from 'fastify';
import pino, { type Logger } from 'pino';
import { BlobStore } from '../store/blob-store.ts';
import { SqliteStore } from '../store/sqlite/sqlite-store.ts';
import { Accounts } from './accounts.ts';
import { buildApp } from './app.ts';
import { ConfigWatcher } from './config-watcher.ts';
import { pinoLevel } from './relay-config.ts';
import { Relay, type RelayOptions } from './relay.ts';
import { TokenAuth } from './token-auth.ts';
import { TurnBatchedLog } from './turn-batched-log.ts';

export interface ServerOptions {
  /** Path of mi_distributed_computing_assist.ini. */
  configPath: string;
  /** Where the database and file contents live. */
  dataDir: string;
  /** Overrides [Server] portnumber (0 = any free port). */
  port?: number;
  /** Overrides [Server] ipaddress. */
  host?: string;
  /** PEM certificate and key: serve HTTPS. Overrides [Server] certfile / keyfile. */
  certFile?: string;
  keyFile?: string;
  /** Overrides the INI's loglevel with a pino level name. */
  logLevel?: string;
  /** Where logs go (the lines of one turn of the event loop in one write); default stdout. */
  logDestination?: NodeJS.WritableStream;
  relay?: Partial<RelayOptions>;
}

export interface RunningServer {
  app: FastifyInstance;
  url: string;
  relay: Relay;
  store: SqliteStore;
  log: Logger;
  close(): Promise<void>;
}

export async function startServer(o: ServerOptions): Promise<RunningServer> {
  const logOut = new TurnBatchedLog(o.logDestination ?? process.stdout);
  const bootLog = pino({ level: o.logLevel ?? 'info', base: { pid: process.pid } }, logOut);
  const config = new ConfigWatcher(resolve(o.configPath), bootLog);
  const cfg = config.current();
  const log = bootLog.child({}, { level: o.logLevel ?? pinoLevel(cfg.loglevel) });
  // group commit: every answer waits for the commit of what it reports (app.ts, onSend)
  const store = new SqliteStore(o.dataDir, { groupCommit: true });
  const blobs = new BlobStore(join(o.dataDir, 'blobs'));
  const relay = new Relay(store, blobs, config, log, o.relay);
  const accounts = new Accounts(store);
  const certFile = o.certFile ?? cfg.certFile;
  const keyFile = o.keyFile ?? cfg.keyFile;
  if ((certFile === null || certFile === undefined) !== (keyFile === null || keyFile === undefined)) {
    throw new Error('HTTPS needs both a certificate and a key (--cert and --key, or certfile and keyfile in [Server])');
  }
  const https = certFile && keyFile ? { cert: readFileSync(certFile), key: readFileSync(keyFile) } : null;
  const app = await buildApp({
    relay, auth: new TokenAuth(store), login: { login: (u, p, l) => accounts.login(u, p, l) }, log,
    store, bodyLimitBytes: cfg.bodyLimitBytes, fileLimitBytes: cfg.fileLimitBytes, rateLimitPerMinute: cfg.rateLimitPerMinute, https,
  });
  config.start();

  const host = o.host ?? cfg.address;
  const port = o.port ?? cfg.port;
  await app.listen({ host, port });
  const addr = app.server.address();
  const realPort = typeof addr === 'object' && addr ? addr.port : port;
  const url = `${https ? 'https' : 'http'}://${host.includes(':') ? `[${host}]` : host}:${realPort}`;
  log.info({ url, dataDir: o.dataDir, config: o.configPath, sites: [...cfg.sites.keys()] }, 'relay listening');

  relay.forgiveDowntime();
  // lease expiry: checked 4 times per lease period (at least every 5 s, at most every 50 ms)
  const leaseCheckMs = (): number => Math.min(5000, Math.max(50, Math.round(config.current().leaseSeconds * 250)));
  let leaseRunning = false;
  const runLeases = async (): Promise<void> => {
    if (leaseRunning) return;
    leaseRunning = true;
    try {
      await relay.expireLeases();
    } catch (err) {
      log.error({ err }, 'lease expiry run failed; will retry');
    } finally {
      leaseRunning = false;
    }
  };
  let leasePeriod = leaseCheckMs();
  let leaseTimer = setInterval(() => void runLeases(), leasePeriod);

  let timersRunning = false;
  const runTimers = async (): Promise<void> => {
    if (timersRunning) return;
    timersRunning = true;
    try {
      await relay.expireUnstarted();
      relay.purge();
    } catch (err) {
      log.error({ err }, 'expiry/purge run failed; will retry');
    } finally {
      timersRunning = false;
    }
  };
  void runTimers();
  let timer = setInterval(() => void runTimers(), cfg.expireCheckSeconds * 1000);
  let period = cfg.expireCheckSeconds;
  const retime = setInterval(() => {
    const p = config.current().expireCheckSeconds;
    if (p !== period) {
      clearInterval(timer);
      timer = setInterval(() => void runTimers(), p * 1000);
      period = p;
    }
    const lp = leaseCheckMs();
    if (lp !== leasePeriod) {
      clearInterval(leaseTimer);
      leaseTimer = setInterval(() => void runLeases(), lp);
      leasePeriod = lp;
    }
  }, 1000);
  retime.unref();

  let closed = false;
  return {
    app, url, relay, store, log,
    async close() {
      if (closed) return;
      closed = true;
      clearInterval(timer);
      clearInterval(leaseTimer);
      clearInterval(retime);
      config.stop();
      relay.hub.notifyAll();
      await app.close();
      store.close();
      logOut.close();
    },
  };
}
