// A small TCP relay of our own between an agent and the relay server, for fault injection on
// loopback: pause (bytes stop flowing both ways, connections stay open), cut (every connection
// is reset, and new ones are reset at once until restore()), and throttle (all connections share
// one link of N bytes/s, served round-robin in slices, as TCP flows share a slow line).
//
//   const proxy = await TcpProxy.start(relay.port);
//   agent talks to proxy.url; proxy.cut(); ...; proxy.restore(); proxy.throttle(1 << 20);
import { createServer, connect, type Server, type Socket } from 'node:net';

/** One direction of one connection: its bytes wait here in order. */
interface Direction {
  src: Socket;
  dst: Socket;
  bufs: (Buffer | null)[]; // null: end of stream
  queued: boolean;
}

const SLICE = 16 * 1024;

export class TcpProxy {
  private readonly server: Server;
  private readonly pairs = new Set<[Socket, Socket]>();
  private queue: Direction[] = [];
  private paused = false;
  private isCut = false;
  private rate: number | null = null;
  private tokens = 0;
  private last = performance.now();
  private timer: NodeJS.Timeout | null = null;
  /** Bytes forwarded (both directions), and connections reset by cut(). */
  readonly stats = { bytes: 0, resets: 0, connections: 0 };

  private constructor(private targetPort: number) {
    this.server = createServer({ noDelay: true }, (c) => this.accept(c));
  }

  static async start(targetPort: number): Promise<TcpProxy> {
    const p = new TcpProxy(targetPort);
    await new Promise<void>((res) => p.server.listen(0, '127.0.0.1', res));
    return p;
  }

  get port(): number {
    const a = this.server.address();
    return typeof a === 'object' && a ? a.port : 0;
  }

  get url(): string {
    return `http://127.0.0.1:${this.port}`;
  }

  /** The relay moved (a restart on another port). */
  retarget(port: number): void {
    this.targetPort = port;
  }

  /** Holds every byte (both ways) until resume(); connections stay open. */
  pause(): void {
    this.paused = true;
  }

  resume(): void {
    this.paused = false;
    this.pump();
  }

  /** Resets every connection, and every new one until restore(). */
  cut(): void {
    this.isCut = true;
    for (const [a, b] of this.pairs) {
      resetConnection(a);
      resetConnection(b);
      this.stats.resets++;
    }
    this.pairs.clear();
    this.queue = [];
  }

  restore(): void {
    this.isCut = false;
  }

  /** Limits the link (all connections together) to `bytesPerSecond`; null: no limit. */
  throttle(bytesPerSecond: number | null): void {
    this.rate = bytesPerSecond;
    this.tokens = 0;
    this.last = performance.now();
    this.pump();
  }

  async close(): Promise<void> {
    if (this.timer) clearTimeout(this.timer);
    this.cut();
    await new Promise<void>((res) => this.server.close(() => res()));
  }

  private accept(c: Socket): void {
    if (this.isCut) {
      c.resetAndDestroy();
      this.stats.resets++;
      return;
    }
    this.stats.connections++;
    const u = connect({ host: '127.0.0.1', port: this.targetPort, noDelay: true });
    const pair: [Socket, Socket] = [c, u];
    this.pairs.add(pair);
    const drop = (): void => {
      this.pairs.delete(pair);
      c.destroy();
      u.destroy();
    };
    for (const [src, dst] of [[c, u], [u, c]] as const) {
      const d: Direction = { src, dst, bufs: [], queued: false };
      src.on('data', (buf: Buffer) => this.enqueue(d, buf));
      src.on('end', () => this.enqueue(d, null));
      src.on('error', drop);
      src.on('close', () => {
        // let queued bytes of the other direction go out before the peer closes
        setImmediate(drop);
      });
    }
  }

  private enqueue(d: Direction, buf: Buffer | null): void {
    d.src.pause();
    d.bufs.push(buf);
    if (!d.queued) {
      d.queued = true;
      this.queue.push(d);
    }
    this.pump();
  }

  /** Moves queued bytes as the link allows; re-arms itself while something waits. */
  private pump(): void {
    if (this.timer) {
      clearTimeout(this.timer);
      this.timer = null;
    }
    if (this.paused || this.queue.length === 0) return;
    const now = performance.now();
    if (this.rate !== null) {
      this.tokens = Math.min(this.tokens + (this.rate * (now - this.last)) / 1000, Math.max(SLICE, this.rate / 20));
    }
    this.last = now;
    while (this.queue.length > 0 && (this.rate === null || this.tokens >= 1)) {
      const d = this.queue.shift() as Direction;
      if (d.dst.destroyed) {
        d.queued = false;
        d.bufs = [];
        continue;
      }
      const buf = d.bufs[0];
      if (buf === null || buf === undefined) {
        d.bufs.shift();
        if (buf === null) d.dst.end();
      } else {
        const n = this.rate === null ? buf.length : Math.min(buf.length, SLICE, Math.floor(this.tokens));
        if (this.rate !== null) this.tokens -= n;
        this.stats.bytes += n;
        const flushed = d.dst.write(buf.subarray(0, n));
        if (n < buf.length) d.bufs[0] = buf.subarray(n);
        else d.bufs.shift();
        if (!flushed && d.bufs.length === 0) {
          d.queued = false;
          d.dst.once('drain', () => d.src.resume());
          continue;
        }
      }
      if (d.bufs.length > 0) {
        // the rest waits its turn behind the other connections (round robin)
        this.queue.push(d);
      } else {
        d.queued = false;
        d.src.resume();
      }
    }
    if (this.queue.length > 0) this.timer = setTimeout(() => this.pump(), 10);
  }
}

/**
 * Resets a connection (RST), or only destroys it when its sending side was already ended: a
 * reset while the FIN is still being sent fails inside libuv (EINVAL), and Node 20 then leaves
 * the handle half-closed, so that the test process spins at 100 % CPU when it exits.
 */
export function resetConnection(s: Socket): void {
  if (s.writableEnded) s.destroy();
  else s.resetAndDestroy();
}
