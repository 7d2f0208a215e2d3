// Two requests of OpenSSH's control-socket protocol (PROTOCOL.mux in the OpenSSH sources),
// spoken from this process instead of spawning `ssh -O check` / `ssh -O exit`. Each of those
// is a whole ssh process (about 10 ms to start here, 20-40 ms on a loaded 2-core machine)
// that says two small messages; the no-op job paid one at every close.
//
// The protocol (version 4, unchanged since OpenSSH 5.x): every message is a uint32 length and
// a body; a body starts with a uint32 type. Both ends first send HELLO with their version;
// then the client sends a request with an id, and the master answers with that id.
import net from 'node:net';

const MUX_MSG_HELLO = 0x00000001;
const MUX_C_ALIVE_CHECK = 0x10000004;
const MUX_C_TERMINATE = 0x10000005;
const MUX_S_OK = 0x80000001;
const MUX_S_PERMISSION_DENIED = 0x80000002;
const MUX_S_FAILURE = 0x80000003;
const MUX_S_ALIVE = 0x80000005;
const MUX_VERSION = 4;
/** Longest message we accept from a master (ours are 8-12 bytes, plus a reason string). */
const MAX_MESSAGE = 64 * 1024;

export type MuxRequest = 'alive' | 'terminate';

export interface MuxAnswer {
  /** The master answered as asked (alive; or agreed to terminate). */
  ok: boolean;
  /** The master's process id (alive check only). */
  pid?: number;
  /** Why not, when not ok (no socket, refused, protocol error, timeout). */
  reason?: string;
}

function message(...words: number[]): Buffer {
  const b = Buffer.alloc(4 + 4 * words.length);
  b.writeUInt32BE(4 * words.length, 0);
  words.forEach((w, i) => b.writeUInt32BE(w >>> 0, 4 + 4 * i));
  return b;
}

/**
 * Ask the master on `socketPath` one thing. Never throws: a missing socket, a dead master
 * (ECONNREFUSED), garbage or silence past `timeoutMs` all come back as `ok: false`.
 */
export function muxRequest(socketPath: string, request: MuxRequest, timeoutMs = 3000): Promise<MuxAnswer> {
  return new Promise((resolve) => {
    const requestId = 1;
    let buffered = Buffer.alloc(0);
    let helloSeen = false;
    let settled = false;
    const finish = (answer: MuxAnswer): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      socket.destroy();
      resolve(answer);
    };
    const timer = setTimeout(() => finish({ ok: false, reason: `no answer in ${timeoutMs} ms` }), timeoutMs);
    const socket = net.connect({ path: socketPath });
    socket.on('connect', () => socket.write(message(MUX_MSG_HELLO, MUX_VERSION)));
    socket.on('error', (err) => finish({ ok: false, reason: err.message }));
    socket.on('close', () => {
      // OpenSSH's own client notes that a terminating master may exit before its OK is
      // delivered: once the request was sent, the connection closing is the answer.
      if (request === 'terminate' && helloSeen) finish({ ok: true });
      else finish({ ok: false, reason: 'the master closed the connection' });
    });
    socket.on('data', (chunk: Buffer) => {
      buffered = Buffer.concat([buffered, chunk]);
      while (buffered.length >= 4) {
        const length = buffered.readUInt32BE(0);
        if (length < 4 || length > MAX_MESSAGE) return finish({ ok: false, reason: `bad message length ${length}` });
        if (buffered.length < 4 + length) return;
        const body = buffered.subarray(4, 4 + length);
        buffered = buffered.subarray(4 + length);
        const type = body.readUInt32BE(0);
        if (!helloSeen) {
          if (type !== MUX_MSG_HELLO || length < 8 || body.readUInt32BE(4) !== MUX_VERSION) {
            return finish({ ok: false, reason: 'not an OpenSSH control socket of protocol version 4' });
          }
          helloSeen = true;
          if (request === 'alive') {
            socket.write(message(MUX_C_ALIVE_CHECK, requestId));
            continue;
          }
          // Terminate: once the request is in the master's socket buffer it will be acted on
          // (the master reads requests in order, before it notices our end closing), so do not
          // wait the 10-15 ms it takes to shut the connection down and exit.
          socket.write(message(MUX_C_TERMINATE, requestId), (err) => {
            if (err) finish({ ok: false, reason: err.message });
            else finish({ ok: true });
          });
          continue;
        }
        if (length < 8 || body.readUInt32BE(4) !== requestId) return finish({ ok: false, reason: 'answer to another request' });
        if (request === 'alive' && type === MUX_S_ALIVE && length >= 12) return finish({ ok: true, pid: body.readUInt32BE(8) });
        if (request === 'terminate' && type === MUX_S_OK) return finish({ ok: true });
        if (type === MUX_S_PERMISSION_DENIED || type === MUX_S_FAILURE) return finish({ ok: false, reason: 'the master refused' });
        return finish({ ok: false, reason: `unexpected answer type 0x${type.toString(16)}` });
      }
    });
  });
}
