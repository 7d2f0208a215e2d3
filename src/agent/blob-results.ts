// Result files that go up as blobs (the relay's `blobs` feature) before send-results names
// them: whether a calc has any (at least --blob-min-bytes), and their verified, resumable
// uploads. Small files and the error entries stay inline in send-results.
import { Readable } from 'node:stream';
import { uploadBlob } from '../client/blob-transfer.ts';
import type { RelayClient } from '../client/relay-client.ts';
import type { ResultUpload } from '../client/result-upload.ts';
import { STDERR_FILE, STDOUT_FILE } from '../protocol/calc-info.ts';
import type { AgentOptions } from './agent-options.ts';
import { collectResults } from './collect-results.ts';
import type { JournalData } from './journal.ts';

/** Whether some result file is large enough to go up as a blob before send-results. */
export function hasBlobResults(client: RelayClient, workdir: string, j: JournalData, opts: AgentOptions): boolean {
  if (!client.has('blobs')) return false;
  const c = collectResults(workdir, j.calc?.resultNames ?? [STDOUT_FILE, STDERR_FILE], opts.rules);
  return c.files.some((f) => f.size >= opts.blobMinBytes);
}

/** Uploads the large result files as blobs; small files and the error entries stay inline. */
export async function asBlobReferences(client: RelayClient, uploads: ResultUpload[], minBytes: number, signal: AbortSignal | undefined): Promise<ResultUpload[]> {
  const out: ResultUpload[] = [];
  for (const u of uploads) {
    if (!('open' in u) || (u.size !== undefined && u.size < minBytes)) {
      out.push(u);
      continue;
    }
    const blob = await uploadBlob(client, async (start) => {
      const stream = (await u.open()) as AsyncIterable<Uint8Array> & NodeJS.ReadableStream;
      if (start === 0) return stream;
      return skipBytes(stream, start);
    }, { signal });
    out.push({ name: u.name, mimetype1: u.mimetype1, mimetype2: u.mimetype2, blob });
  }
  return out;
}

/** The stream without its first `n` bytes (the result files are opened from the start only). */
function skipBytes(source: AsyncIterable<Uint8Array>, n: number): AsyncIterable<Uint8Array> & NodeJS.ReadableStream {
  async function* gen(): AsyncGenerator<Uint8Array> {
    let left = n;
    for await (const c of source) {
      if (left >= c.length) {
        left -= c.length;
        continue;
      }
      yield left > 0 ? c.subarray(left) : c;
      left = 0;
    }
  }
  return Readable.from(gen());
}
