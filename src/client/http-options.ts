// How our clients open connections to a relay (through http-transport.ts, on a private
// keep-alive Agent, never Node's global one). TLS certificates are verified unless the
// administrator explicitly asks otherwise; an extra CA file is trusted in addition to Node's
// bundled roots, not instead of them.
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { HttpTransport } from './http-transport.ts';

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

// node:tls is loaded only when a CA file is given (see http-transport.ts: https costs a start)
const requireBuiltin = createRequire(import.meta.url);

/** A transport for these options. Throws HttpOptionsError when the CA file is unusable. */
export function createTransport(o: HttpOptions): HttpTransport {
  let ca: string[] | undefined;
  if (o.caFile !== null) {
    let pem: string;
    try {
      pem = readFileSync(o.caFile, 'utf8');
    } catch (err) {
      throw new HttpOptionsError(`cannot read the CA file ${o.caFile}: ${(err as Error).message}`, { cause: err });
    }
    if (!pem.includes('-----BEGIN CERTIFICATE-----')) throw new HttpOptionsError(`${o.caFile} holds no PEM certificate (-----BEGIN CERTIFICATE-----)`);
    const { rootCertificates } = requireBuiltin('node:tls') as typeof import('node:tls');
    ca = [...rootCertificates, pem];
  }
  return new HttpTransport({
    verifyTls: o.verifyTls,
    ca,
    connectTimeoutMs: o.connectTimeoutMs,
    headersTimeoutMs: o.headersTimeoutMs,
    bodyTimeoutMs: o.bodyTimeoutMs,
    keepAliveMs: o.keepAliveMs,
  });
}
