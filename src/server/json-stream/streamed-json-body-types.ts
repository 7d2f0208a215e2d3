// What the request-body parsers (streamed-json-body.ts, small-json-body.ts) put in place of
// file contents, and their one error class.
import type { DecodedContent, ReceivedContent } from '../../protocol/calc-info.ts';
import type { IncomingBlob } from '../../store/blob-writer.ts';

/** A small streamed string, decoded in memory (protocol's DecodedContent). */
export class DecodedFile implements DecodedContent {
  constructor(readonly decoded: Buffer) {}
}

/** Where a streamed string ended up: a received blob, not yet committed (protocol's ReceivedContent). */
export class StreamedFile implements ReceivedContent {
  constructor(readonly received: IncomingBlob) {}
}

export class StreamedBodyError extends Error {
  override readonly name = 'StreamedBodyError';
  constructor(message: string, readonly kind: 'json' | 'too-large' | 'base64' | 'io', options?: { cause?: unknown }) {
    super(message, options);
  }
}
