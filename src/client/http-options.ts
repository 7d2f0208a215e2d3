// How our clients open connections to a relay: undici 7 with a private Agent (never the
// global dispatcher, never handed to the global fetch). TLS certificates are verified unless
// the administrator explicitly asks otherwise; an extra CA file is trusted in addition to
// Node's bundled roots, not instead of them.
import { readFileSync } from 'node:fs';
import { rootCertificates } from 'node:tls';
import { Agent } from 'undici';

export interface HttpOptions {
  /** Verify the relay's TLS certificate. Off only for the manual's `no_auth`. @default true */
  verifyTls: boolean;
  /** PEM file with extra CA certificates to trust (`no_auth:CAFILE`). @default null */
  caFile: string | null;
  /** Time to open a TCP+TLS connection, ms. @default 10000 */
  connectTimeoutMs: number;
  /** Time to wait for an answer's headers on ordinary calls, ms. Long polls add their wait. @default 120000 */
  headersTimeoutMs: number;
  /** Longest silence while a body streams, ms. @default 120000 */
  bodyTimeoutMs: number;
  /** How long an idle keep-alive connection is kept, ms. @default 60000 */
  keepAliveMs: number;
}

export const DEFAULT_HTTP_OPTIONS: HttpOptions = {
  verifyTls: true,
  caFile: null,
  connectTimeoutMs: 10_000,
  headersTimeoutMs: 120_000,
  bodyTimeoutMs: 120_000,
  keepAliveMs: 60_000,
};

export class HttpOptionsError extends Error {
  override readonly name = 'HttpOptionsError';
}

/** An undici Agent for these options. Throws HttpOptionsError when the CA file is unusable. */
export function createDispatcher(o: HttpOptions): Agent {
  let ca: string[] | undefined;
  if (o.caFile !== null) {
    let pem: string;
    try {
      pem = readFileSync(o.caFile, 'utf8');
    } catch (err) {
      throw new HttpOptionsError(`cannot read the CA file ${o.caFile}: ${(err as Error).message}`, { cause: err });
    }
    if (!pem.includes('-----BEGIN CERTIFICATE-----')) throw new HttpOptionsError(`${o.caFile} holds no PEM certificate (-----BEGIN CERTIFICATE-----)`);
    ca = [...rootCertificates, pem];
  }
  return new Agent({
    connect: { timeout: o.connectTimeoutMs, rejectUnauthorized: o.verifyTls, ...(ca ? { ca } : {}) },
    headersTimeout: o.headersTimeoutMs,
    bodyTimeout: o.bodyTimeoutMs,
    keepAliveTimeout: o.keepAliveMs,
    keepAliveMaxTimeout: Math.max(o.keepAliveMs, 600_000),
  });
}
