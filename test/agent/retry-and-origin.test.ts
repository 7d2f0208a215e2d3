// The client pieces the agent leans on: the base URL rule and the one retry policy.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { CallAborted, ProtocolFailure, RelayRefused, RelayUnavailable, RelayUnreachable } from '../../src/client/client-errors.ts';
import { progressNamedIn, relayOrigin } from '../../src/client/relay-client.ts';
import { backoffDelay, retryableReason, withRetry } from '../../src/client/retry-policy.ts';

describe('relayOrigin', () => {
  it('adds the port when the URL names none, keeps a named one', () => {
    assert.equal(relayOrigin('https://nims.mintsys.jp'), 'https://nims.mintsys.jp:50443');
    assert.equal(relayOrigin('https://nims.mintsys.jp/', 443), 'https://nims.mintsys.jp:443');
    assert.equal(relayOrigin('https://nims.mintsys.jp:443', 50443), 'https://nims.mintsys.jp:443');
    assert.equal(relayOrigin('http://[::1]:8082'), 'http://[::1]:8082');
    for (const bad of ['nims.mintsys.jp', 'ftp://x', 'https://u:p@x', 'https://x/api', 'https://x:99999']) assert.throws(() => relayOrigin(bad), bad);
  });
});

describe('retry policy', () => {
  const policy = { retries: 3, intervalMs: 10, jitter: 0.1 };
  it('one table: network failures and 502/503/504/429 retry; answers do not', () => {
    assert.notEqual(retryableReason(new RelayUnreachable('e', 'u', 'ECONNREFUSED')), null);
    assert.notEqual(retryableReason(Object.assign(new Error('x'), { code: 'ECONNRESET' })), null);
    assert.notEqual(retryableReason(new Error('x', { cause: { code: 'HEADERS_TIMEOUT' } })), null);
    for (const s of [429, 502, 503, 504]) assert.notEqual(retryableReason(new RelayUnavailable('e', s, '')), null, String(s));
    assert.equal(retryableReason(new RelayUnavailable('e', 500, '')), null);
    assert.equal(retryableReason(new RelayRefused('e', 403, '0005', '')), null);
    assert.equal(retryableReason(new ProtocolFailure('e', 200, '400', 'x')), null);
    assert.equal(retryableReason(new Error('plain')), null);
  });

  it('jitter stays within ±jitter of the interval', () => {
    assert.equal(backoffDelay({ retries: 1, intervalMs: 1000, jitter: 0.1 }, 1, () => 0), 900);
    assert.equal(backoffDelay({ retries: 1, intervalMs: 1000, jitter: 0.1 }, 1, () => 1), 1100);
  });

  it('retries up to the count, telling each retry, then throws the last error', async () => {
    const told: number[] = [];
    let calls = 0;
    await assert.rejects(withRetry(async () => {
      calls++;
      throw new RelayUnreachable('calc-request', 'u', 'ECONNREFUSED');
    }, policy, { onRetry: (e) => told.push(e.retry) }), RelayUnreachable);
    assert.equal(calls, 4);
    assert.deepEqual(told, [1, 2, 3]);
  });

  it('succeeds after transient failures; does not retry what retrying cannot fix', async () => {
    let n = 0;
    assert.equal(await withRetry(async () => {
      if (++n < 3) throw new RelayUnavailable('e', 503, '');
      return 'ok';
    }, policy), 'ok');
    n = 0;
    await assert.rejects(withRetry(async () => {
      n++;
      throw new RelayRefused('e', 403, '0005', '');
    }, policy), RelayRefused);
    assert.equal(n, 1);
  });

  it('an abort ends the wait at once', async () => {
    const ac = new AbortController();
    const p = withRetry(async () => {
      throw new RelayUnreachable('e', 'u', 'ECONNREFUSED');
    }, { retries: 5, intervalMs: 60_000, jitter: 0 }, { signal: ac.signal, onRetry: () => ac.abort() });
    await assert.rejects(p, CallAborted);
  });
});

describe('progressNamedIn', () => {
  it('reads the state our relay names when it refuses a step', () => {
    const e = new ProtocolFailure('calc-start', 200, 401, 'calc-start refused: the calc is in progress "running" (status "none"), about the your site id(s)');
    assert.equal(progressNamedIn(e), 'running');
    assert.equal(progressNamedIn(new ProtocolFailure('x', 200, 401, 'other')), null);
    assert.equal(progressNamedIn(new Error('in progress "running"')), null);
  });
});
