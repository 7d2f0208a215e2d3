// The body of send-results, produced as a stream: file contents are read and base64-encoded
// chunk by chunk, so a result of any size costs constant memory on the sending side
// (the deployed wire form is one JSON object with base64 strings in it).
import { base64Text } from '../protocol/base64-text.ts';

/** One entry of send-results' `result_files`. */
export type ResultUpload =
  | { name: string; mimetype1: string; mimetype2: string; bytes: Uint8Array }
  /** Already uploaded with uploadBlob(): sent as a reference (relays with the `blobs` feature). */
  | { name: string; mimetype1: string; mimetype2: string; blob: { sha256: string; size: number } }
  | {
      name: string;
      mimetype1: string;
      mimetype2: string;
      /** Opens the file's bytes afresh (called once per try, so a retried upload re-reads it). */
      open: () => Promise<AsyncIterable<Uint8Array>>;
      /** Its size when known, bytes (small files go inline rather than as blobs). */
      size?: number;
    };

const enc = (s: string): Buffer => Buffer.from(s, 'utf8');

/** Base64 of a byte stream, emitted in pieces (as bytes, for a request body). */
export async function* base64Chunks(source: AsyncIterable<Uint8Array>): AsyncGenerator<Buffer> {
  for await (const text of base64Text(source)) yield enc(text);
}

/** `{"accept_id":..,"site_id":..,"result_files":{name:{content,mimetype1,mimetype2}},...extra}` as a stream. */
export async function* sendResultsBody(
  fields: Record<string, string | number>,
  files: readonly ResultUpload[],
): AsyncGenerator<Buffer> {
  const head = JSON.stringify(fields);
  yield enc(`${head.slice(0, -1)}${head.length > 2 ? ',' : ''}"result_files":{`);
  let first = true;
  for (const f of files) {
    if ('blob' in f) {
      yield enc(`${first ? '' : ','}${JSON.stringify(f.name)}:${JSON.stringify({ blob: f.blob.sha256, size: f.blob.size, mimetype1: f.mimetype1, mimetype2: f.mimetype2 })}`);
      first = false;
      continue;
    }
    yield enc(`${first ? '' : ','}${JSON.stringify(f.name)}:{"content":"`);
    first = false;
    if ('bytes' in f) yield enc(Buffer.from(f.bytes).toString('base64'));
    else yield* base64Chunks(await f.open());
    yield enc(`","mimetype1":${JSON.stringify(f.mimetype1)},"mimetype2":${JSON.stringify(f.mimetype2)}}`);
  }
  yield enc('}}');
}
