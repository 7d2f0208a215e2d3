// The relay as a fastify app: auth, body parsing, the error envelope, the routes.
// Built without listening, so route tests can use inject() and start-server.ts can listen.
import Fastify, { LogController, type FastifyError, type FastifyInstance, type FastifyServerOptions } from 'fastify';
import rateLimit from '@fastify/rate-limit';
import { randomUUID } from 'node:crypto';
import type { Logger } from 'pino';
import { Errors, ProtocolError } from '../protocol/errors.ts';
import { envelope } from '../protocol/envelope.ts';
import type { Relay } from './relay.ts';
import type { TokenAuth } from './token-auth.ts';
import { endpointOf } from './routes/route-helpers.ts';
import { workflowRoutes } from './routes/workflow-routes.ts';
import { remoteRoutes } from './routes/remote-routes.ts';
import { extensionRoutes, type LoginService } from './routes/extension-routes.ts';
import { blobReadRoutes, blobUploadRoutes } from './routes/blob-routes.ts';
import { streamedBodyRoutes } from './routes/streamed-body-routes.ts';
import { BlobUploads } from './blob-uploads.ts';
import type { Store } from '../store/store.ts';
import { FEATURES_HEADER_VALUE } from '../protocol/features.ts';

export const API_PREFIX = '/mi-distcomp-api/';

export interface AppOptions {
  relay: Relay;
  auth: TokenAuth;
  login: LoginService;
  log: Logger;
  store: Store;
  /** Largest JSON body besides file contents, bytes. */
  bodyLimitBytes: number;
  /** Largest file content in a JSON body, bytes of base64 (the manual's 2 GiB). */
  fileLimitBytes: number;
  rateLimitPerMinute: number;
  https?: { cert: Buffer; key: Buffer } | null;
}

/** Paths that need no token. */
const OPEN_PATHS = new Set(['/mi-distcomp-api/x/login', '/mi-distcomp-api/x/features']);

const reqIdPrefix = randomUUID().slice(0, 8);
let reqCount = 0;

export async function buildApp(o: AppOptions): Promise<FastifyInstance> {
  const opts: FastifyServerOptions & { https?: { cert: Buffer; key: Buffer } } = {
    loggerInstance: o.log,
    // one line per request only at debug level (onResponse hook below)
    logController: new LogController({ disableRequestLogging: true }),
    bodyLimit: o.bodyLimitBytes,
    // request ids name a request in the error log: unique per process start is enough, and a
    // counter costs nothing (randomUUID per request showed in the relay's profile at ~1.5 %)
    genReqId: () => `${reqIdPrefix}-${(++reqCount).toString(36)}`,
    // a 5 GiB file on a 1 MiB/s link takes 85 minutes: no limit on a request's total time;
    // a connection that stalls (no bytes either way) is cut after 5 minutes instead
    requestTimeout: 0,
    connectionTimeout: 300_000,
    keepAliveTimeout: 75_000,
    forceCloseConnections: true,
    return503OnClosing: true,
  };
  if (o.https) opts.https = o.https;
  const app = Fastify(opts) as unknown as FastifyInstance;

  app.decorateRequest('user', null);

  // Any content type is read as JSON (deployed clients send application/json; curl -d does not).
  app.removeAllContentTypeParsers();
  app.addContentTypeParser('*', { parseAs: 'string' }, (_req, body, done) => {
    const text = typeof body === 'string' ? body : body.toString('utf8');
    if (text.trim() === '') return done(null, {});
    try {
      done(null, JSON.parse(text) as unknown);
    } catch (err) {
      done(Errors.notJson((err as Error).message), undefined);
    }
  });

  // the per-request hooks are callback-style: an async hook costs a promise and a microtask per
  // request even when, as here, it has nothing to wait for
  app.addHook('onRequest', (req, reply, done) => {
    reply.header('x-distcomp-features', FEATURES_HEADER_VALUE);
    const path = req.url.split('?')[0] ?? '';
    if (OPEN_PATHS.has(path)) return done();
    try {
      req.user = o.auth.userOf(req.headers.authorization);
    } catch (err) {
      return done(err as Error);
    }
    done(req.user ? undefined : Errors.forbidden(endpointOf(req.url)));
  });

  if (o.rateLimitPerMinute > 0) {
    await app.register(rateLimit, {
      max: o.rateLimitPerMinute,
      timeWindow: 60_000,
      keyGenerator: (req) => (req.user ? `u:${req.user.id}` : `ip:${req.ip}`),
      errorResponseBuilder: (_req, ctx) => Errors.tooManyRequests(Math.ceil(ctx.ttl / 1000)),
    });
  }

  // group commit (store/sqlite/group-commit.ts): no answer leaves before the changes it may
  // report (its own, or those of requests it saw in the same turn) are committed; a failed
  // commit turns the answer into an error
  app.addHook('onSend', (_req, _reply, payload, done) => {
    o.store.durable().then(() => done(null, payload), done);
  });

  app.setErrorHandler((err: FastifyError | ProtocolError | Error, req, reply) => {
    let e: ProtocolError;
    if (err instanceof ProtocolError) e = err;
    else if ((err as FastifyError).code === 'FST_ERR_CTP_BODY_TOO_LARGE') e = Errors.bodyTooLarge(o.bodyLimitBytes);
    else if ((err as FastifyError).statusCode === 429) e = Errors.tooManyRequests(60);
    else if ((err as FastifyError).statusCode === 400 && (err as FastifyError).code?.startsWith('FST_ERR_CTP')) e = Errors.notJson(err.message);
    else {
      req.log.error({ err, url: req.url.split('?')[0] }, 'unexpected error');
      e = Errors.internal(String(req.id));
    }
    if (e.httpStatus >= 400 && e.httpStatus !== 403 && e.httpStatus < 500) {
      req.log.debug({ endpoint: endpointOf(req.url), code: e.code, status: e.httpStatus, message: e.message }, 'request refused');
    }
    if (e.httpStatus === 429) void reply.header('retry-after', '60');
    return reply.code(e.httpStatus).send(envelope(e.code, e.message, e.extra));
  });

  app.setNotFoundHandler((req, reply) => {
    const e = Errors.notFound(req.url.split('?')[0] ?? '');
    return reply.code(404).send(envelope(e.code, e.message));
  });

  // one line per request at debug level; no hook at all otherwise (a hook per request costs a
  // promise and a call even when the line is dropped)
  if (o.log.isLevelEnabled('debug')) {
    app.addHook('onResponse', async (req, reply) => {
      req.log.debug({ method: req.method, endpoint: endpointOf(req.url), status: reply.statusCode, ms: Math.round(reply.elapsedTime) }, 'request');
    });
  }

  workflowRoutes(app, o.relay);
  remoteRoutes(app, o.relay);
  extensionRoutes(app, o.login, o.relay);
  const uploads = new BlobUploads(o.relay.blobs, o.store);
  blobReadRoutes(app, uploads, o.relay.blobs, o.store);
  // bodies that carry files: read as streams, never whole
  await app.register(async (scope) => {
    scope.removeAllContentTypeParsers();
    scope.addContentTypeParser('*', (_req, payload, done) => done(null, payload));
    streamedBodyRoutes(scope, o.relay, { smallBytes: o.bodyLimitBytes, fileBase64Bytes: o.fileLimitBytes });
    blobUploadRoutes(scope, uploads);
  });
  return app;
}
