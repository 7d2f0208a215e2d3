// A small streaming JSON tokenizer for request bodies that carry whole files as base64
// strings. Strings are emitted in slices as large as the input chunks (a general-purpose
// streaming parser we tried cut them into 256-character tokens and ran at ~19 MB/s; this
// one scans for the closing quote with indexOf). Grammar errors name what was expected.
import { StringDecoder } from 'node:string_decoder';

export type Token =
  | { name: 'startObject' | 'endObject' | 'startArray' | 'endArray' | 'startString' | 'endString' }
  | { name: 'keyValue'; value: string }
  | { name: 'stringChunk'; value: string }
  | { name: 'numberValue'; value: string }
  | { name: 'nullValue'; value: null }
  | { name: 'trueValue'; value: true }
  | { name: 'falseValue'; value: false };

export class JsonSyntaxError extends Error {
  override readonly name = 'JsonSyntaxError';
}

// what may come next
type Expect = 'value' | 'firstValueOrEnd' | 'key' | 'firstKeyOrEnd' | 'colon' | 'commaOrEnd' | 'done';
type Frame = 'object' | 'array';

const NUMBER = /^-?(0|[1-9]\d*)(\.\d+)?([eE][+-]?\d+)?$/;
const ESCAPES: Record<string, string> = { '"': '"', '\\': '\\', '/': '/', b: '\b', f: '\f', n: '\n', r: '\r', t: '\t' };

export class JsonTokenizer {
  private readonly decoder = new StringDecoder('utf8');
  private expect: Expect = 'value';
  private readonly stack: Frame[] = [];
  /** inside a string: whether it is a key; the key's text so far */
  private inString: null | { key: boolean; text: string } = null;
  /** an escape cut by a chunk boundary (a backslash, or \\u and some hex digits) */
  private pendingEscape = '';
  /** a number or literal cut by a chunk boundary */
  private word = '';

  push(chunk: Buffer): Token[] {
    return this.scan(this.decoder.write(chunk));
  }

  end(): Token[] {
    const out = this.scan(this.decoder.end());
    this.flushWord(out);
    if (this.inString) throw new JsonSyntaxError('unterminated string');
    if (this.expect !== 'done') throw new JsonSyntaxError('unexpected end of JSON input');
    return out;
  }

  private afterValue(): void {
    this.expect = this.stack.length === 0 ? 'done' : 'commaOrEnd';
  }

  private flushWord(out: Token[]): void {
    if (this.word === '') return;
    const w = this.word;
    this.word = '';
    if (w === 'true') out.push({ name: 'trueValue', value: true });
    else if (w === 'false') out.push({ name: 'falseValue', value: false });
    else if (w === 'null') out.push({ name: 'nullValue', value: null });
    else if (NUMBER.test(w)) out.push({ name: 'numberValue', value: w });
    else throw new JsonSyntaxError(`unexpected "${w.slice(0, 20)}"`);
    this.afterValue();
  }

  private scan(s: string): Token[] {
    const out: Token[] = [];
    let i = 0;
    const n = s.length;
    while (i < n) {
      if (this.inString) {
        i = this.scanString(s, i, out);
        continue;
      }
      const c = s[i] as string;
      if (this.word !== '') {
        if (/[0-9A-Za-z.+-]/.test(c)) {
          this.word += c;
          if (this.word.length > 400) throw new JsonSyntaxError('a number or literal longer than 400 characters');
          i++;
          continue;
        }
        this.flushWord(out);
      }
      if (c === ' ' || c === '\n' || c === '\r' || c === '\t') {
        i++;
        continue;
      }
      switch (this.expect) {
        case 'done':
          throw new JsonSyntaxError(`unexpected "${c}" after the end of the JSON value`);
        case 'colon':
          if (c !== ':') throw new JsonSyntaxError(`expected ":" but found "${c}"`);
          this.expect = 'value';
          i++;
          continue;
        case 'commaOrEnd': {
          const top = this.stack[this.stack.length - 1];
          if (c === ',') this.expect = top === 'object' ? 'key' : 'value';
          else if (c === '}' && top === 'object') this.close(out, 'endObject');
          else if (c === ']' && top === 'array') this.close(out, 'endArray');
          else throw new JsonSyntaxError(`expected "," or "${top === 'object' ? '}' : ']'}" but found "${c}"`);
          i++;
          continue;
        }
        case 'key':
        case 'firstKeyOrEnd':
          if (c === '}' && this.expect === 'firstKeyOrEnd') this.close(out, 'endObject');
          else if (c === '"') this.inString = { key: true, text: '' };
          else throw new JsonSyntaxError(`expected a property name in double quotes but found "${c}"`);
          i++;
          continue;
        case 'value':
        case 'firstValueOrEnd':
          if (c === ']' && this.expect === 'firstValueOrEnd') this.close(out, 'endArray');
          else if (c === '{') {
            out.push({ name: 'startObject' });
            this.stack.push('object');
            this.expect = 'firstKeyOrEnd';
          } else if (c === '[') {
            out.push({ name: 'startArray' });
            this.stack.push('array');
            this.expect = 'firstValueOrEnd';
          } else if (c === '"') {
            out.push({ name: 'startString' });
            this.inString = { key: false, text: '' };
          } else if (/[-0-9tfn]/.test(c)) {
            this.word = c;
          } else throw new JsonSyntaxError(`unexpected "${c}" where a value was expected`);
          i++;
          continue;
      }
    }
    return out;
  }

  private close(out: Token[], name: 'endObject' | 'endArray'): void {
    this.stack.pop();
    out.push({ name });
    this.afterValue();
  }

  /** Scans string content from `i`; returns where it stopped (a loop: base64 with `\/` escapes has thousands). */
  private scanString(s: string, i: number, out: Token[]): number {
    const st = this.inString as { key: boolean; text: string };
    const emit = (text: string): void => {
      if (text === '') return;
      if (st.key) {
        st.text += text;
        if (st.text.length > 10_000) throw new JsonSyntaxError('a property name longer than 10000 characters');
      } else out.push({ name: 'stringChunk', value: text });
    };
    while (i < s.length) {
      if (this.pendingEscape !== '') {
        // finish an escape (possibly cut by the previous chunk)
        while (i < s.length && !this.escapeComplete()) this.pendingEscape += s[i++];
        if (!this.escapeComplete()) return i;
        emit(this.decodeEscape(this.pendingEscape));
        this.pendingEscape = '';
        continue;
      }
      const quote = s.indexOf('"', i);
      const slash = s.indexOf('\\', i);
      const stop = quote < 0 ? slash : slash < 0 ? quote : Math.min(quote, slash);
      const plain = stop < 0 ? s.slice(i) : s.slice(i, stop);
      // eslint-disable-next-line no-control-regex
      if (/[\u0000-\u001f]/.test(plain)) throw new JsonSyntaxError('a control character inside a string');
      emit(plain);
      if (stop < 0) return s.length;
      if (stop === slash && (quote < 0 || slash < quote)) {
        this.pendingEscape = '\\';
        i = stop + 1;
        continue;
      }
      // closing quote
      this.inString = null;
      if (st.key) {
        out.push({ name: 'keyValue', value: st.text });
        this.expect = 'colon';
      } else {
        out.push({ name: 'endString' });
        this.afterValue();
      }
      return stop + 1;
    }
    return i;
  }

  private escapeComplete(): boolean {
    const e = this.pendingEscape;
    if (e.length < 2) return false;
    if (e[1] !== 'u') return true;
    return e.length >= 6;
  }

  private decodeEscape(e: string): string {
    if (e[1] === 'u') {
      const hex = e.slice(2, 6);
      if (!/^[0-9a-fA-F]{4}$/.test(hex)) throw new JsonSyntaxError(`bad unicode escape "\\u${hex}"`);
      return String.fromCharCode(parseInt(hex, 16)); // surrogate halves join in the string
    }
    const v = ESCAPES[e[1] as string];
    if (v === undefined) throw new JsonSyntaxError(`bad escape "\\${e[1]}"`);
    return v;
  }
}
