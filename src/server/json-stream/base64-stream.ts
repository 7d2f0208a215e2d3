// Decodes base64 text that arrives in pieces of any length (JSON string chunks), strictly:
// only the standard alphabet, line breaks ignored, at most two "=" and only at the very end.

export class Base64Error extends Error {
  override readonly name = 'Base64Error';
}

const ALPHABET = /^[A-Za-z0-9+/]*$/;

export class Base64Decoder {
  /** characters not decoded yet (less than a quad, plus any padding) */
  private rest = '';
  private pad = 0;
  private ended = false;

  /** Decodes what can be decoded of `text`, keeping an incomplete quad for later. */
  push(text: string): Buffer {
    if (this.ended) throw new Base64Error('data after the end');
    const t = text.includes('\n') || text.includes('\r') ? text.replace(/[\r\n]/g, '') : text;
    if (t.length === 0) return Buffer.alloc(0);
    const eq = t.indexOf('=');
    const body = eq >= 0 ? t.slice(0, eq) : t;
    const tail = eq >= 0 ? t.slice(eq) : '';
    if (this.pad > 0 && body.length > 0) throw new Base64Error('characters after "=" padding');
    if (!ALPHABET.test(body)) throw new Base64Error('a character outside the base64 alphabet');
    if (!/^=*$/.test(tail)) throw new Base64Error('"=" inside base64 text');
    this.pad += tail.length;
    if (this.pad > 2) throw new Base64Error('more than two "=" of padding');
    const all = this.rest + body;
    const whole = all.length - (all.length % 4);
    this.rest = all.slice(whole);
    const out = whole === 0 ? Buffer.alloc(0) : Buffer.from(all.slice(0, whole), 'base64');
    return out;
  }

  /** Ends the text; a last quad that cannot be complete is an error. */
  end(): Buffer {
    this.ended = true;
    const r = this.rest;
    this.rest = '';
    if (r.length === 0) {
      if (this.pad > 0) throw new Base64Error('"=" padding after a complete quad');
      return Buffer.alloc(0);
    }
    if (r.length === 1) throw new Base64Error('truncated base64 text');
    if (this.pad > 0 && r.length + this.pad !== 4) throw new Base64Error('wrong "=" padding');
    return Buffer.from(r, 'base64');
  }
}
