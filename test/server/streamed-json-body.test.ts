// The streaming body parser agrees with JSON.parse on any value split anywhere, streams the
// chosen strings into blobs (decoded from base64), and refuses bad input with a clear message.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import fc from 'fast-check';
import { BlobStore } from '../../src/store/blob-store.ts';
import { DecodedFile, IN_MEMORY_MAX, parseStreamedJson, StreamedBodyError, StreamedFile } from '../../src/server/json-stream/streamed-json-body.ts';
import { tempDir } from '../helpers/temp-dir.ts';

function pieces(text: string, cuts: number[]): Buffer[] {
  const bytes = Buffer.from(text, 'utf8');
  const points = [...new Set(cuts.map((c) => c % (bytes.length + 1)))].sort((a, b) => a - b);
  const out: Buffer[] = [];
  let at = 0;
  for (const p of points) {
    out.push(bytes.subarray(at, p));
    at = p;
  }
  out.push(bytes.subarray(at));
  return out;
}

test('agrees with JSON.parse on any JSON value, cut into pieces anywhere (even inside UTF-8 and escapes)', async (t) => {
  const blobs = new BlobStore(tempDir(t));
  await fc.assert(
    fc.asyncProperty(fc.jsonValue({ maxDepth: 4 }), fc.array(fc.nat(), { maxLength: 8 }), async (value, cuts) => {
      const text = JSON.stringify(value);
      const { value: got } = await parseStreamedJson(Readable.from(pieces(text, cuts)), blobs, { streamAt: () => false, maxSmallBytes: 1e7, maxStreamedBytes: 1e7 });
      assert.deepEqual(got, JSON.parse(text));
    }),
    { numRuns: 400 },
  );
});

test('streams the chosen strings into blobs; base64 decoded exactly, across any cut', async (t) => {
  const dir = tempDir(t);
  const blobs = new BlobStore(dir);
  await fc.assert(
    fc.asyncProperty(fc.oneof(fc.uint8Array({ maxLength: 3000 }), fc.integer({ min: 1024 * 1024 - 2, max: 1024 * 1024 + 5000 }).map((n) => new Uint8Array(n).map((_, i) => (i * 31) & 255))), fc.array(fc.nat(), { maxLength: 6 }), fc.boolean(), async (bytes, cuts, escapeSlashes) => {
      let b64 = Buffer.from(bytes).toString('base64');
      if (escapeSlashes) b64 = b64.replace(/\//g, '\\/');
      const text = `{"calc-info":{"parameter_files":{"f.bin":["${b64}","application/octet-stream;","charset=binary"]}}}`;
      const { value, files } = await parseStreamedJson(Readable.from(pieces(text, cuts)), blobs, {
        streamAt: (p) => p.length === 4 && p[3] === 0, maxSmallBytes: 1e6, maxStreamedBytes: 1e7,
      });
      const f = (value as any)['calc-info'].parameter_files['f.bin'];
      // small files stay in memory, large ones go to a blob file
      const got = f[0] instanceof StreamedFile ? readFileSync(f[0].received.tmpPath) : f[0] instanceof DecodedFile ? f[0].decoded : null;
      assert.ok(got !== null && got.equals(Buffer.from(bytes)), 'the decoded bytes are the sent bytes');
      // small files stay in memory; well past the limit they go to a blob file
      if (bytes.length < IN_MEMORY_MAX / 2) assert.ok(f[0] instanceof DecodedFile);
      if (bytes.length > IN_MEMORY_MAX + 4) assert.ok(f[0] instanceof StreamedFile);
      assert.equal(f[1], 'application/octet-stream;');
      await blobs.discard(files);
    }),
    { numRuns: 60 },
  );
});

test('bad bodies: a clear error and no temporary file left', async (t) => {
  const dir = tempDir(t);
  const blobs = new BlobStore(dir);
  const opts = { streamAt: (p: readonly (string | number)[]) => p.length === 4 && p[3] === 0, maxSmallBytes: 200, maxStreamedBytes: 1000 };
  const cases: [string, RegExp, StreamedBodyError['kind']][] = [
    ['{"a": [1, 2', /unexpected end/, 'json'],
    ['{"a" 1}', /expected ":"/, 'json'],
    ['{"a":1,}', /property name/, 'json'],
    ['[1 2]', /expected "," or "\]"/, 'json'],
    ['{"a":tru}', /unexpected "tru"/, 'json'],
    ['{"a":"x\\q"}', /bad escape/, 'json'],
    ['{"a":1} x', /after the end/, 'json'],
    ['', /unexpected end/, 'json'],
    ['{"calc-info":{"parameter_files":{"f":["QUJD*","",""]}}}', /base64 alphabet/, 'base64'],
    ['{"calc-info":{"parameter_files":{"f":["QUJDR","",""]}}}', /truncated/, 'base64'],
    [`{"calc-info":{"parameter_files":{"f":["${'QUJD'.repeat(300)}","",""]}}}`, /larger than the limit of 1000/, 'too-large'],
    [`{"x":"${'a'.repeat(300)}"}`, /larger than the limit of 200/, 'too-large'],
  ];
  // streamed, and read whole (a declared length within the limits): the same error either way
  for (const whole of [false, true]) {
    for (const [text, why, kind] of cases) {
      const bodyBytes = whole ? Buffer.byteLength(text) : undefined;
      await assert.rejects(parseStreamedJson(Readable.from([Buffer.from(text)]), blobs, { ...opts, bodyBytes }), (e: unknown) => {
        assert.ok(e instanceof StreamedBodyError, String(e));
        assert.match(e.message, why, text.slice(0, 60));
        assert.equal(e.kind, kind, text.slice(0, 60));
        return true;
      });
    }
  }
  assert.deepEqual(readdirSync(join(dir, 'tmp')), []);
});

test('a body read whole gives what the streaming parser gives: the same values, the same decoded files', async (t) => {
  const blobs = new BlobStore(tempDir(t));
  const streamAt = (p: readonly (string | number)[]): boolean => p.length === 4 && p[0] === 'calc-info' && p[3] === 0;
  const content = fc.oneof(fc.uint8Array({ maxLength: 2000 }).map((b) => Buffer.from(b).toString('base64')), fc.string(), fc.integer(), fc.constant(null));
  await fc.assert(
    fc.asyncProperty(fc.jsonValue({ maxDepth: 3 }), fc.dictionary(fc.string({ maxLength: 8 }), fc.tuple(content, fc.string())), fc.array(fc.nat(), { maxLength: 5 }),
      async (other, files, cuts) => {
        const text = JSON.stringify({ other, 'calc-info': { parameter_files: files, other } });
        const opts = { streamAt, maxSmallBytes: 1e6, maxStreamedBytes: 1e6 };
        const settle = (p: Promise<unknown>): Promise<unknown> => p.then((v) => ({ v }), (e: unknown) => ({ e: e instanceof StreamedBodyError ? [e.kind, e.message] : String(e) }));
        const streamed = await settle(parseStreamedJson(Readable.from(pieces(text, cuts)), blobs, opts).then((r) => r.value));
        const whole = await settle(parseStreamedJson(Readable.from(pieces(text, cuts)), blobs, { ...opts, bodyBytes: Buffer.byteLength(text) }).then((r) => r.value));
        assert.deepEqual(whole, streamed);
      }),
    { numRuns: 300 },
  );
});

test('"__proto__" is an ordinary key, as with JSON.parse: it never sets a prototype', async (t) => {
  const blobs = new BlobStore(tempDir(t));
  const text = '{"calc-info":{"__proto__":{"command":"/bin/evil"},"remote-site":"s"}}';
  const { value } = await parseStreamedJson(Readable.from([Buffer.from(text)]), blobs, { streamAt: () => false, maxSmallBytes: 1e6, maxStreamedBytes: 1e6 });
  const ci = (value as any)['calc-info'];
  assert.equal(Object.getPrototypeOf(ci), Object.prototype);
  assert.equal(ci.command, undefined, 'nothing inherited from a "__proto__" key');
  assert.deepEqual(value, JSON.parse(text));
  const whole = await parseStreamedJson(Readable.from([Buffer.from(text)]), blobs, { streamAt: () => false, maxSmallBytes: 1e6, maxStreamedBytes: 1e6, bodyBytes: text.length });
  assert.equal((whole.value as any)['calc-info'].command, undefined);
  assert.deepEqual(whole.value, JSON.parse(text));
});
