// The two deployed endpoints whose bodies carry whole files as base64 (add-calcinfo and
// send-results), parsed as streams: file contents go straight into blob files, so the
// manual's 2 GiB per file works without holding the JSON text or the base64 in memory.
import type { FastifyInstance, FastifyRequest } from 'fastify';
import type { Readable } from 'node:stream';
import { Errors, type ProtocolError } from '../../protocol/errors.ts';
import { ok } from '../../protocol/envelope.ts';
import { parseStreamedJson, StreamedBodyError } from '../json-stream/streamed-json-body.ts';
import type { Relay } from '../relay.ts';
import { caller, flag, optionalKey } from './route-helpers.ts';

export interface BodyLimits {
  /** Largest total of the JSON besides file contents, bytes. */
  smallBytes: number;
  /** Largest file content, bytes of base64 (the manual: under 2 GiB). */
  fileBase64Bytes: number;
}

const isParameterContent = (p: readonly (string | number)[]): boolean =>
  p.length === 4 && p[0] === 'calc-info' && p[1] === 'parameter_files' && p[3] === 0;
const isResultContent = (p: readonly (string | number)[]): boolean =>
  p.length === 3 && p[0] === 'result_files' && (p[2] === 'content' || p[2] === 0);

async function parse(req: FastifyRequest, relay: Relay, limits: BodyLimits, streamAt: (p: readonly (string | number)[]) => boolean, base64Error: (m: string) => ProtocolError) {
  try {
    const declared = req.headers['content-length'];
    const bodyBytes = declared !== undefined && /^\d{1,15}$/.test(declared) ? Number(declared) : undefined;
    return await parseStreamedJson((req.body ?? req.raw) as Readable, relay.blobs, { streamAt, maxSmallBytes: limits.smallBytes, maxStreamedBytes: limits.fileBase64Bytes, bodyBytes });
  } catch (err) {
    if (!(err instanceof StreamedBodyError)) throw err;
    if (err.kind === 'too-large') throw /file/.test(err.message) ? Errors.bodyFileTooLarge(limits.fileBase64Bytes) : Errors.bodyTooLarge(limits.smallBytes);
    if (err.kind === 'base64') throw base64Error(err.message);
    if (err.kind === 'io') throw Errors.diskFull();
    throw Errors.notJson(err.message.replace(/^request body is not valid JSON: /, ''));
  }
}

export function streamedBodyRoutes(app: FastifyInstance, relay: Relay, limits: BodyLimits): void {
  app.post('/mi-distcomp-api/add-calcinfo', async (req) => {
    const user = caller(req);
    // `allow=1` (ours): allow-wait-calc in the same call
    const allow = flag(req, 'allow');
    const { value, files } = await parse(req, relay, limits, isParameterContent, (m) => Errors.badCalcInfoField(m));
    try {
      const c = await relay.register(user, value, allow);
      return ok('calc info successfully added', { accept_id: c.acceptId, ...(allow ? { allowed: true } : {}) });
    } finally {
      await relay.blobs.discard(files); // committed ones were moved; this drops the rest
    }
  });

  app.post('/mi-distcomp-api/send-results', async (req) => {
    const user = caller(req);
    // `calc_end=<calc end|abnormal>` and `end_send=1` (ours): calc-end before, end-send after, in the same call
    const also = { calcEnd: optionalKey(req, 'calc_end'), endSend: flag(req, 'end_send') };
    const { value, files } = await parse(req, relay, limits, isResultContent, (m) => Errors.badResultFiles(m));
    try {
      const { ignored } = await relay.sendResults(user, value, also);
      return ok('ok', ignored.length > 0 ? { ignored } : {});
    } finally {
      await relay.blobs.discard(files);
    }
  });
}
