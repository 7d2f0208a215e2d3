// Parses a JSON request body as a stream (stream-json tokens), building the small parts as
// ordinary values and sending chosen string values (base64 file contents) straight through a
// base64 decoder into blob files: a 2 GiB file in the deployed base64-in-JSON form never
// exists as a string or a buffer. Replaces JSON.parse for add-calcinfo and send-results.
import { PassThrough, type Readable } from 'node:stream';
import { JsonSyntaxError, JsonTokenizer, type Token } from './json-tokens.ts';
import type { BlobStore } from '../../store/blob-store.ts';
import type { BlobWriter, IncomingBlob } from '../../store/blob-writer.ts';
import { Base64Decoder, Base64Error } from './base64-stream.ts';
import { DecodedFile, StreamedBodyError, StreamedFile } from './streamed-json-body-types.ts';
import { WHOLE_BODY_MAX } from '../../protocol/features.ts';
import { parseWhole, readWhole, streamOf } from './small-json-body.ts';

/**
 * Streamed values stay in memory up to this many decoded bytes, and go to a blob file beyond:
 * small files (the common case) then cost one write instead of open/write/close through the
 * thread pool. @default 1 MiB
 */
export const IN_MEMORY_MAX = 1024 * 1024;

export { DecodedFile, StreamedBodyError, StreamedFile } from './streamed-json-body-types.ts';

export interface StreamedParseOptions {
  /** Which string values go to files: gets the path of keys/indexes from the root. */
  streamAt: (path: readonly (string | number)[]) => boolean;
  /** Largest total of the small (non-streamed) parts, bytes of JSON text. */
  maxSmallBytes: number;
  /** Largest single streamed value, bytes of base64 text. */
  maxStreamedBytes: number;
  /**
   * The body's declared length (Content-Length), when known: a body that fits every limit and
   * WHOLE_BODY_MAX is read whole and parsed by JSON.parse (small-json-body.ts).
   */
  bodyBytes?: number;
}

type Container = { kind: 'object'; value: Record<string, unknown>; key: string | null } | { kind: 'array'; value: unknown[] };

/** Parses the body; on any error every blob received so far is removed. */
export async function parseStreamedJson(body: Readable, blobs: BlobStore, o: StreamedParseOptions): Promise<{ value: unknown; files: IncomingBlob[] }> {
  const n = o.bodyBytes;
  if (n !== undefined && n <= WHOLE_BODY_MAX && n <= o.maxSmallBytes && n <= o.maxStreamedBytes) {
    // within every limit whatever its shape: read whole; what JSON.parse refuses is parsed
    // again as a stream, so that the error says what it always said
    const bytes = await readWhole(body);
    const whole = parseWhole(bytes, o.streamAt);
    if (whole) return { value: whole.value, files: [] };
    return parseStreamedJson(streamOf(bytes), blobs, { ...o, bodyBytes: undefined });
  }
  const tokenizer = new JsonTokenizer();
  const files: IncomingBlob[] = [];
  const stack: Container[] = [];
  const path: (string | number)[] = [];
  let root: unknown = undefined;
  let hasRoot = false;
  let small = 0;
  // the string being read: either text for a small value, or a file
  let text: string | null = null;
  let sink: { writer: BlobWriter | null; memory: Buffer[]; held: number; decoder: Base64Decoder; chars: number } | null = null;
  const feed = async (bytes: Buffer): Promise<void> => {
    const k = sink!;
    if (k.writer === null && k.held + bytes.length <= IN_MEMORY_MAX) {
      k.memory.push(bytes);
      k.held += bytes.length;
      return;
    }
    if (k.writer === null) {
      k.writer = blobs.writer();
      for (const m of k.memory) await k.writer.write(m);
      k.memory = [];
    }
    await k.writer.write(bytes);
  };

  const place = (v: unknown): void => {
    const top = stack[stack.length - 1];
    if (!top) {
      root = v;
      hasRoot = true;
      return;
    }
    if (top.kind === 'array') top.value.push(v);
    else if (top.key !== null) {
      // an own property, as JSON.parse makes it: `"__proto__"` must not set the prototype
      Object.defineProperty(top.value, top.key, { value: v, writable: true, enumerable: true, configurable: true });
      top.key = null;
    }
  };
  const currentPath = (): (string | number)[] => {
    const top = stack[stack.length - 1];
    if (!top) return [];
    return top.kind === 'array' ? [...path, top.value.length] : [...path, top.key ?? ''];
  };
  const addSmall = (n: number): void => {
    small += n;
    if (small > o.maxSmallBytes) throw new StreamedBodyError(`request body is larger than the limit of ${o.maxSmallBytes} bytes (besides file contents)`, 'too-large');
  };

  // read through a PassThrough: leaving the loop early destroys it, not the request, so that
  // the rest of a refused body can be drained and the client still reads our answer
  const pass = new PassThrough();
  body.on('error', (err) => pass.destroy(err));
  body.pipe(pass);
  async function* tokens(): AsyncGenerator<Token> {
    for await (const chunk of pass) yield* tokenizer.push(chunk as Buffer);
    yield* tokenizer.end();
  }
  try {
    for await (const token of tokens()) {
      switch (token.name) {
        case 'startObject':
        case 'startArray': {
          addSmall(2);
          const c: Container = token.name === 'startObject' ? { kind: 'object', value: {}, key: null } : { kind: 'array', value: [] };
          const p = currentPath();
          place(c.value);
          if (stack.length > 0) path.push(p[p.length - 1] as string | number);
          stack.push(c);
          break;
        }
        case 'endObject':
        case 'endArray':
          stack.pop();
          if (stack.length > 0) path.pop();
          break;
        case 'keyValue': {
          const top = stack[stack.length - 1];
          const key = String(token.value);
          addSmall(key.length + 4);
          if (top?.kind === 'object') top.key = key;
          break;
        }
        case 'startString':
          if (o.streamAt(currentPath())) {
            sink = { writer: null, memory: [], held: 0, decoder: new Base64Decoder(), chars: 0 };
          } else text = '';
          break;
        case 'stringChunk': {
          const chunk = String(token.value);
          if (sink) {
            sink.chars += chunk.length;
            if (sink.chars > o.maxStreamedBytes) throw new StreamedBodyError(`a file is larger than the limit of ${o.maxStreamedBytes} bytes of base64`, 'too-large');
            await feed(sink.decoder.push(chunk));
          } else if (text !== null) {
            addSmall(chunk.length);
            text += chunk;
          }
          break;
        }
        case 'endString':
          if (sink) {
            await feed(sink.decoder.end());
            if (sink.writer === null) {
              place(new DecodedFile(Buffer.concat(sink.memory)));
            } else {
              const blob = await sink.writer.finish();
              files.push(blob);
              place(new StreamedFile(blob));
            }
            sink = null;
          } else {
            place(text ?? '');
            text = null;
          }
          break;
        case 'numberValue':
          addSmall(String(token.value).length);
          place(Number(token.value));
          break;
        case 'nullValue':
          place(null);
          break;
        case 'trueValue':
          place(true);
          break;
        case 'falseValue':
          place(false);
          break;
        default:
          break;
      }
    }
  } catch (err) {
    if (sink?.writer) await sink.writer.abort();
    await blobs.discard(files);
    body.unpipe(pass);
    body.resume();
    if (err instanceof StreamedBodyError) throw err;
    if (err instanceof Base64Error) throw new StreamedBodyError(`file content is not base64: ${err.message}`, 'base64', { cause: err });
    if ((err as NodeJS.ErrnoException).code === 'ENOSPC') throw new StreamedBodyError('the server has no disk space left for this file; try again later', 'io', { cause: err });
    if (err instanceof JsonSyntaxError) throw new StreamedBodyError(`request body is not valid JSON: ${err.message}`, 'json', { cause: err });
    throw new StreamedBodyError(`request body could not be read: ${(err as Error).message}`, 'io', { cause: err });
  }
  if (!hasRoot) throw new StreamedBodyError('request body is empty', 'json');
  return { value: root, files };
}
