// Base64 of a byte stream, produced piece by piece: 3-byte groups are kept whole between
// pieces, so the pieces join into exactly the base64 of the whole stream (no padding in the
// middle). Shared by the relay's streamed answers, the client's streamed send-results, and tests.

export async function* base64Text(source: AsyncIterable<Uint8Array>): AsyncGenerator<string> {
  let carry: Buffer = Buffer.alloc(0);
  for await (const chunk of source) {
    const all = carry.length === 0 ? Buffer.from(chunk) : Buffer.concat([carry, chunk]);
    const whole = all.length - (all.length % 3);
    if (whole > 0) yield all.subarray(0, whole).toString('base64');
    carry = all.subarray(whole);
  }
  if (carry.length > 0) yield carry.toString('base64');
}
