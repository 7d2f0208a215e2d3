// The extensions our relay offers, by name. Advertised in the `x-distcomp-features` header of
// every answer (so a client learns them from its first call) and by GET x/features.
//
// - long-poll: `wait=<s>` on calc-request, calc-progress and get-calc-result
// - login:     POST x/login (a password for a token)
// - lease:     `lease=1` on calc-request, x/heartbeat, `attempt` on later calls
// - blobs:     PUT/GET x/blobs/<sha256>, `blobs=1` for file references instead of base64
// - combined:  one call for steps our own clients always make back to back (the calc goes
//              through the same states and history as with the separate calls):
//              add-calcinfo?allow=1, calc-request?params=1 (the calc-info with the claim),
//              calc-params-complete?params=1&start=1, send-results?calc_end=<result>&end_send=1,
//              get-calc-result?wait=<s>, calc-progress?results=1 (the results come with the
//              answer that reports got return, and the calc is collected)
export const FEATURES = ['long-poll', 'login', 'lease', 'blobs', 'combined'] as const;
export type Feature = (typeof FEATURES)[number];

export const FEATURES_HEADER_VALUE = FEATURES.join(',');

/**
 * Files at least this large travel as blobs (x/blobs, streamed, verified, resumable) when the
 * relay has the `blobs` feature; smaller ones inline as base64, which saves a round trip each.
 */
export const BLOB_MIN_BYTES = 1024 * 1024;

/**
 * Request bodies up to this size travel whole, with a Content-Length: our clients send a
 * streamed body (send-results) whole when it ends within it, and the relay reads a body of
 * declared length within it whole and parses it with JSON.parse instead of its streaming parser
 * (server/json-stream/small-json-body.ts). @default 256 KiB
 */
export const WHOLE_BODY_MAX = 256 * 1024;
