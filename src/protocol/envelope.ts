// The deployed answer envelope: {"errors":[{"code":..., "message":..., ...extra}]}.
// Clients read errors[0].code; the number 200 means success.
import type { WireCode } from './errors.ts';

export interface EnvelopeEntry {
  code: WireCode;
  message: string;
  [extra: string]: unknown;
}
export interface Envelope {
  errors: [EnvelopeEntry, ...EnvelopeEntry[]];
}

export function envelope(code: WireCode, message: string, extra: Record<string, unknown> = {}): Envelope {
  return { errors: [{ code, message, ...extra }] };
}

export function ok(message: string, extra: Record<string, unknown> = {}): Envelope {
  return envelope(200, message, extra);
}

/** Reads errors[0] of an answer, or null when it is not an envelope. */
export function firstEntry(body: unknown): EnvelopeEntry | null {
  if (typeof body !== 'object' || body === null) return null;
  const errors = (body as { errors?: unknown }).errors;
  if (!Array.isArray(errors) || errors.length === 0) return null;
  const first = errors[0] as unknown;
  if (typeof first !== 'object' || first === null) return null;
  const f = first as { code?: unknown; message?: unknown };
  if (typeof f.code !== 'number' && typeof f.code !== 'string') return null;
  return { ...(first as object), code: f.code, message: typeof f.message === 'string' ? f.message : '' };
}

export function isSuccess(entry: EnvelopeEntry | null): boolean {
  return entry !== null && entry.code === 200;
}
