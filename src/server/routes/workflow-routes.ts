// Workflow-side endpoints of the deployed protocol (plus `wait`/`since`/`until` on calc-progress).
// add-calcinfo, whose body carries files, is in streamed-body-routes.ts.
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { ok } from '../../protocol/envelope.ts';
import type { Relay } from '../relay.ts';
import { caller, clientGone, flag, optionalKey, queryKey, refsFrom, waitMs } from './route-helpers.ts';
import { Errors } from '../../protocol/errors.ts';
import { isProgress, type Progress } from '../../protocol/states.ts';
import { jsonAnswer } from '../json-stream/streamed-json-answer.ts';

export function workflowRoutes(app: FastifyInstance, relay: Relay): void {
  app.post('/mi-distcomp-api/allow-wait-calc', async (req) => {
    relay.allow(caller(req), req.body);
    return ok('successfully reqeust(start waiting calcurate)');
  });

  app.post('/mi-distcomp-api/cancel-wait-calc', async (req) => {
    const c = relay.cancel(caller(req), req.body);
    return ok(`successfully cancel wait(delete calculation information for accept_id(${c.acceptId}))`);
  });

  app.get('/mi-distcomp-api/calc-status', async (req) => {
    const c = relay.lookup(caller(req), queryKey(req, 'accept_id'));
    return ok(`status:${c.status}`, { reason: c.reason ?? undefined, liveness: relay.liveness(c) });
  });

  app.get('/mi-distcomp-api/calc-progress', async (req, reply) => {
    const user = caller(req);
    const id = queryKey(req, 'accept_id');
    const since = (req.query as Record<string, unknown>)['since'];
    const sinceP = typeof since === 'string' ? since : undefined;
    const until = untilOf(req);
    if (flag(req, 'results')) {
      // `results=1` (ours): once the calc has got return, its results come with this answer, as
      // get-calc-result gives them (and the calc is collected): the wait's last call is the fetch
      const { calc: c, files } = await relay.progressOrResults(user, id, sinceP, waitMs(req), clientGone(reply), refsFrom(req), until);
      const extra = { calc_status: c.status, reason: c.reason ?? undefined, liveness: relay.liveness(c), ...(files ? { 'result-info': { result_files: files } } : {}) };
      return reply.type('application/json; charset=utf-8').send(await jsonAnswer(relay.blobs, ok(`status:${c.progress}`, extra)));
    }
    const c = await relay.waitProgress(user, id, sinceP, waitMs(req), clientGone(reply), until);
    return ok(`status:${c.progress}`, { calc_status: c.status, reason: c.reason ?? undefined, liveness: relay.liveness(c) });
  });

  app.get('/mi-distcomp-api/get-calc-result', async (req, reply) => {
    // `wait=<s>` (ours): held until the results are there
    const files = await relay.result(caller(req), queryKey(req, 'accept_id'), refsFrom(req), waitMs(req), clientGone(reply));
    return reply.type('application/json; charset=utf-8').send(await jsonAnswer(relay.blobs, ok('', { 'result-info': { result_files: files } })));
  });

  app.get('/mi-distcomp-api/get-calcinfo', async (req) => relay.dump(caller(req)));
}

/**
 * `until=<progress>` (ours, with `wait`): the wait also holds while the calc has not reached that
 * progress, so a caller that shows no intermediate states (a quiet submit) is answered once, at
 * `got return`, instead of at every change.
 */
function untilOf(req: FastifyRequest): Progress | undefined {
  const v = optionalKey(req, 'until');
  if (v === undefined) return undefined;
  if (!isProgress(v)) throw Errors.badQuery(`until must be one of the progress values (e.g. "got return"), not ${JSON.stringify(v)}`);
  return v;
}
