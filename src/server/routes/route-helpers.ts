// Small pieces the route files share: reading query keys the deployed way, the caller,
// and an AbortSignal that fires when the client goes away (for long polls).
import type { FastifyReply, FastifyRequest } from 'fastify';
import { Errors } from '../../protocol/errors.ts';
import type { User } from '../../store/store.ts';

export function queryKey(req: FastifyRequest, key: string): string {
  const v = optionalKey(req, key);
  if (v === undefined) throw Errors.noKeyInArgs(key);
  if (v === '') throw Errors.emptyKeyInArgs(key);
  return v;
}

/** Our `wait=<seconds>` extension; absent means 0 (answer at once, as deployed). */
export function waitMs(req: FastifyRequest): number {
  const v = (req.query as Record<string, unknown>)['wait'];
  if (v === undefined) return 0;
  if (typeof v !== 'string' || !/^\d+(\.\d+)?$/.test(v)) throw Errors.badQuery('wait must be a number of seconds');
  return Math.round(Number(v) * 1000);
}

/**
 * Our `blobs=1` extension: file contents as blob references instead of base64, for files of at
 * least `inline_under` bytes (default 0: all of them; smaller ones stay inline, which saves a
 * download per small file). Returns that size, or null when every file is inline (deployed).
 */
export function refsFrom(req: FastifyRequest): number | null {
  const q = req.query as Record<string, unknown>;
  if (q['blobs'] !== '1') return null;
  const v = q['inline_under'];
  if (v === undefined) return 0;
  if (typeof v !== 'string' || !/^\d{1,15}$/.test(v)) throw Errors.badQuery('inline_under must be a number of bytes');
  return Number(v);
}

/** A yes/no extension key of the query: `1` or absent. */
export function flag(req: FastifyRequest, key: string): boolean {
  const v = (req.query as Record<string, unknown>)[key];
  if (v === undefined) return false;
  if (v !== '1') throw Errors.badQuery(`${key} must be 1 or absent`);
  return true;
}

/** An optional string key of the query (given at most once). */
export function optionalKey(req: FastifyRequest, key: string): string | undefined {
  const v = (req.query as Record<string, unknown>)[key];
  if (v === undefined) return undefined;
  if (typeof v !== 'string') throw Errors.badQuery(`${key} must be given once`);
  return v;
}

export function caller(req: FastifyRequest): User {
  const u = req.user;
  if (!u) throw Errors.forbidden(endpointOf(req.url));
  return u;
}

export function endpointOf(url: string): string {
  const path = url.split('?')[0] ?? '';
  return path.replace(/^\/mi-distcomp-api\/?/, '');
}

export function clientGone(reply: FastifyReply): AbortSignal {
  const ac = new AbortController();
  reply.raw.once('close', () => {
    if (!reply.raw.writableFinished) ac.abort();
  });
  return ac.signal;
}

declare module 'fastify' {
  interface FastifyRequest {
    user: User | null;
  }
}
