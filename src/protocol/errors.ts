// One registry of every error a client of the relay can see: the protocol's historical code
// (a number or a string, exactly as deployed clients compare it), the HTTP status, and the
// message. Routes throw these; one error handler turns them into the envelope.

export type WireCode = number | string;

export class ProtocolError extends Error {
  override readonly name = 'ProtocolError';
  constructor(
    /** The envelope's `code` (200 is success, so never this). */
    readonly code: WireCode,
    message: string,
    /** HTTP status of the answer. */
    readonly httpStatus: number,
    /** Extra fields for the envelope entry. */
    readonly extra: Record<string, unknown> = {},
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}

const e =
  <A extends unknown[]>(code: WireCode, httpStatus: number, message: (...a: A) => string) =>
  (...a: A) =>
    new ProtocolError(code, message(...a), httpStatus);

/** An error whose envelope entry carries extra fields (ours, additive). */
const ex =
  <A extends unknown[]>(code: WireCode, httpStatus: number, message: (...a: A) => string, extra: (...a: A) => Record<string, unknown>) =>
  (...a: A) =>
    new ProtocolError(code, message(...a), httpStatus, extra(...a));

/** The registry. Keys are stable names for tests and logs. */
export const Errors = {
  // -- any endpoint
  forbidden: e('0005', 403, (endpoint: string) => `/mi-distcomp-api/${endpoint} への実行権がありません。`),
  bodyTooLarge: e(413, 413, (limit: number) => `request body is larger than the limit of ${limit} bytes`),
  notJson: e(400, 400, (detail: string) => `request body is not valid JSON: ${detail}`),
  tooManyRequests: e(429, 429, (retryAfterS: number) => `too many requests; retry in ${retryAfterS} s`),
  notFound: e(404, 404, (path: string) => `no such endpoint: ${path}`),
  internal: e(500, 500, (id: string) => `internal error (request ${id}); the server keeps running`),

  // -- add-calcinfo (HTTP 202 for all of them, as deployed)
  noCalcInfo: e(400, 202, () => 'no calc-info entry in request body'),
  calcInfoNotObject: e(400, 202, () => 'calc-info must be a JSON object'),
  noRemoteSite: e(400, 202, () => 'no remote-site id'),
  siteNotRegistered: e('400', 202, (site: string) => `missmatch remote-site id(${site})`),
  siteNotForUser: e('400', 202, (site: string, user: string) => `remote-site id(${site}) is not open to user(${user})`),
  noCommand: e(400, 202, () => 'no command entry'),
  commandNotAllowed: e(401, 202, (command: string) => `invalid command name(${command})`),
  badCalcInfoField: e(400, 202, (detail: string) => `invalid calc-info: ${detail}`),
  unsafeFileName: e(400, 202, (map: string, name: string, why: string) =>
    `invalid file name ${name} in ${map}: it ${why}; names must be relative paths that stay inside the working directory`),

  // -- workflow-side accept_id checks
  noAcceptIdInBody: e(400, 400, () => 'There is no accept id in request body'),
  noKeyInArgs: e(400, 400, (key: string) => `There is no key(${key}) in request args`),
  emptyKeyInArgs: e(400, 400, (key: string) => `There is no value for key(${key}) in request args`),
  unknownAcceptId: e(400, 400, (id: string) => `There is no data related accept id(${id}) in internal dictionary`),
  alreadyStarted: e(401, 400, (id: string) => `calcuration have been started at the remote. accept_id(${id})`),
  alreadyAllowed: e(401, 400, (id: string) => `already wait calcurate. accept_id(${id})`),
  cancelInFlight: e(401, 400, (progress: string, id: string) =>
    `calcuration have been started at the remote. (status = ${progress} / accept_id = ${id})`),
  cancelNotAllowed: e(401, 400, (id: string) => `calcuration have not been allow-wait. accept_id(${id})`),
  // calc-status / calc-progress / get-calc-result: HTTP 200, code 400
  noInformation: e(400, 200, (id: string) => `There is no information about the id(${id})`),
  cannotReturn: e(400, 200, (progress: string, id: string) => `calc can not return(status = ${progress} / accept_id = ${id})`),

  // -- remote side (HTTP 200 so deployed pollers read the code; they stop on non-200 codes)
  unknownSite: e('400', 200, (site: string) => `Your site-id(${site}) does not match in the list that acceptable to.`),
  siteClosedToUser: e('400', 200, (site: string) => `Your site-id(${site}) is not open to the user of this token.`),
  nothingToDo: e('0300', 200, (site: string) => `There is no information for accept_id(None), about the your site id(${site})`),
  noSiteIdInBody: e(400, 200, () => 'There is no site id in request body'),
  remoteUnknownAcceptId: e(400, 200, (id: string, site: string) =>
    `There is no information for accept_id(${id}), about the your site id(${site})`),
  notAllowedYet: e(400, 200, (site: string) => `There is no information which can calc(no wait allow), about the your site id(${site})`),
  wrongState: e(401, 200, (endpoint: string, progress: string, status: string, site: string) =>
    `${endpoint} refused: the calc is in progress "${progress}" (status "${status}"), about the your site id(${site})`),
  noResultKey: e(401, 200, () => "There is no 'result' key in request body"),
  unknownCalcEndResult: e(402, 200, (result: string) => `unknown calc status(${result})`),
  unknownEndSendResult: e(402, 200, (result: string) => `unknown string(${result}) in end-send body`),
  noResultFilesKey: e(401, 200, () => "There is no 'result_files' key in request body"),
  badResultFiles: e(401, 200, (detail: string) => `invalid result_files: ${detail}`),

  // -- our extensions
  badQuery: e(400, 400, (detail: string) => `invalid query: ${detail}`),
  badBody: e(400, 400, (detail: string) => `invalid request body: ${detail}`),
  loginFailed: e('0005', 403, () => 'login failed: unknown login id or wrong password'),
  unknownBlob: e(400, 202, (sha: string) => `no uploaded file with sha256 ${sha} for this user (upload it first: PUT /mi-distcomp-api/x/blobs/${sha})`),
  blobSizeMismatch: e(400, 202, (sha: string, said: number, real: number) => `file ${sha} has ${real} bytes, not ${said}`),
  bodyFileTooLarge: e(413, 413, (limit: number) => `a file in the request body is larger than the limit of ${limit} bytes of base64 (the deployed form's 2 GiB); upload it with PUT /mi-distcomp-api/x/blobs/<sha256> instead`),
  diskFull: e(507, 507, () => 'the relay has no disk space left for this file; nothing was stored, try again later'),
  // blob transfers (ours)
  badBlobId: e(400, 400, (id: string) => `not a sha256: ${id}`),
  blobSizeRequired: e(400, 400, () => 'give the file\'s total size: ?size=<bytes>'),
  blobOffsetMismatch: e(409, 409, (expected: number, got: number) => `upload must continue at byte ${expected}, not ${got}`),
  blobTooLong: e(400, 400, (size: number) => `more bytes than the declared size of ${size}`),
  blobTruncated: e(400, 400, (got: number, size: number) => `the upload ended at ${got} of ${size} bytes; resume with ?offset=${got}`),
  blobHashMismatch: e(400, 400, (expected: string, got: string) => `sha256 mismatch: declared ${expected}, received ${got}; nothing was stored`),
  blobNotFound: e(404, 404, (sha: string) => `no file with sha256 ${sha} is visible to this user`),
  badRange: e(416, 416, (detail: string) => `bad Range: ${detail}`),
  // A cancelled calc: the deployed answer for a deleted calc (same code, same message start, so
  // old clients see no difference), plus `cancelled: true` and why, for ours.
  cancelled: ex(400, 200, (id: string) => `There is no information about the id(${id}): it was cancelled by its workflow side (cancel-wait-calc)`,
    () => ({ cancelled: true })),
  remoteCancelled: ex(400, 200, (id: string, site: string) =>
    `There is no information for accept_id(${id}), about the your site id(${site}): it was cancelled by its workflow side; stop the command and send nothing`,
    () => ({ cancelled: true })),
  // A lease-aware call (it names its attempt) whose claim is no longer its own: the calc was
  // handed out again, ended by lease expiry, or claimed by a deployed poller. Never changes
  // anything. The message must not say `in progress "..."`: that phrase means "already done".
  leaseLost: ex(409, 200, (endpoint: string, id: string, attempt: number, why: string, _current: { attempt: number; progress: string; status: string }) =>
    `${endpoint} refused: attempt ${attempt} no longer holds accept_id(${id}): ${why}`,
    (_endpoint, _id, _attempt, why, current) => ({ lease: 'lost', why, current_attempt: current.attempt, calc_progress: current.progress, calc_status: current.status })),
  badAttempt: e(400, 200, (detail: string) => `invalid attempt: ${detail}`),
} as const;

export type ErrorKey = keyof typeof Errors;
