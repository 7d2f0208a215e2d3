// Remote-side (poller) endpoints of the deployed protocol (plus `wait` on calc-request).
// send-results, whose body carries files, is in streamed-body-routes.ts.
import type { FastifyInstance } from 'fastify';
import { ok } from '../../protocol/envelope.ts';
import { attemptOf, type Relay } from '../relay.ts';
import { caller, clientGone, flag, queryKey, refsFrom, waitMs } from './route-helpers.ts';
import { jsonAnswer } from '../json-stream/streamed-json-answer.ts';

export function remoteRoutes(app: FastifyInstance, relay: Relay): void {
  app.get('/mi-distcomp-api/calc-request', async (req, reply) => {
    const user = caller(req);
    const site = queryKey(req, 'site_id');
    // `lease=1` (ours): the caller heartbeats (x/heartbeat) and names its attempt on every later call
    const lease = (req.query as Record<string, unknown>)['lease'] === '1';
    // `params=1` (ours): the calc-info beside the envelope (calc-params' state change comes with
    // calc-params-complete?params=1, so that a lost answer leaves an ordinary lapsing claim)
    const withParams = flag(req, 'params');
    const refs = refsFrom(req);
    const c = await relay.request(user, site, waitMs(req), clientGone(reply), lease);
    const answer = ok('There is information that can calc', { accept_id: c.acceptId, attempt: c.attempt, ...(lease ? relay.leaseTerms(c) : {}) });
    if (!withParams) return answer;
    const info = relay.paramsOf(c, refs);
    return reply.type('application/json; charset=utf-8').send(await jsonAnswer(relay.blobs, { ...answer, 'calc-info': info }));
  });

  app.get('/mi-distcomp-api/calc-params', async (req, reply) => {
    const user = caller(req);
    const site = queryKey(req, 'site_id');
    const id = queryKey(req, 'accept_id');
    const attempt = attemptOf((req.query as Record<string, unknown>)['attempt']);
    const info = relay.params(user, site, id, attempt, refsFrom(req));
    return reply.type('application/json; charset=utf-8').send(await jsonAnswer(relay.blobs, { 'calc-info': info }));
  });

  app.post('/mi-distcomp-api/calc-params-complete', async (req) => {
    // `params=1` and `start=1` (ours): calc-params before, calc-start after, in the same call
    relay.paramsCompleteCombined(caller(req), req.body, { params: flag(req, 'params'), start: flag(req, 'start') });
    return ok('ok');
  });

  app.post('/mi-distcomp-api/calc-start', async (req) => {
    relay.simpleStep(caller(req), 'calc-start', req.body);
    return ok('ok');
  });

  app.post('/mi-distcomp-api/calc-end', async (req) => {
    relay.calcEnd(caller(req), req.body);
    return ok('ok');
  });

  app.post('/mi-distcomp-api/end-send', async (req) => {
    relay.endSend(caller(req), req.body);
    return ok('ok');
  });
}
