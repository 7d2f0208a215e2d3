// Decodes base64 text that arrives in pieces of any length (JSON string chunks), strictly:
// only the standard alphabet, line breaks ignored, padding only at the very end.

export class Base64Error extends Error {
  override readonly name = 'Base64Error';
}

const ALPHABET = /^[A-Za-z0-9+/]*$/;

export class Base64Decoder {
  private rest = '';
  private ended = false;
  private padded = false;

  /** Decodes what can be decoded of `text`, keeping an incomplete quad for later. */
  push(text: string): Buffer {
    if (this.ended) throw new Base64Error('data after the end');
    let t = text.includes('\n') || text.includes('\r') ? text.replace(/[\r\n]/g, '') : text;
    if (t.length === 0) return Buffer.alloc(0);
    if (this.padded) throw new Base64Error('characters after "=" padding');
    const eq = t.indexOf('=');
    if (eq >= 0) {
      if (!/^=+$/.test(t.slice(eq)) || t.length - eq > 2) throw new Base64Error('"=" inside base64 text');
      this.padded = true;
    }
    const body = eq >= 0 ? t.slice(0, eq) : t;
    if (!ALPHABET.test(body)) throw new Base64Error('a character outside the base64 alphabet');
    t = this.rest + t;
    const whole = this.padded ? t.length : t.length - (t.length % 4);
    this.rest = t.slice(whole);
    return whole === 0 ? Buffer.alloc(0) : Buffer.from(t.slice(0, whole), 'base64');
  }

  /** Ends the text; an incomplete last quad without padding is an error. */
  end(): Buffer {
    this.ended = true;
    if (this.rest.length === 0) return Buffer.alloc(0);
    if (this.rest.length === 1) throw new Base64Error('truncated base64 text');
    // unpadded tails of 2 or 3 characters are valid base64 without padding
    const out = Buffer.from(this.rest, 'base64');
    this.rest = '';
    return out;
  }
}
