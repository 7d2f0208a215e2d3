// A real relay on a free loopback port, in this process, with a fresh data directory,
// users and tokens. Requests go over real HTTP (fetch), as a client's would.
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { TestContext } from 'node:test';
import { Accounts } from '../../src/server/accounts.ts';
import { startServer, type RunningServer } from '../../src/server/start-server.ts';
import type { RelayOptions } from '../../src/server/relay.ts';
import { SqliteStore } from '../../src/store/sqlite/sqlite-store.ts';
import { tempDir } from './temp-dir.ts';

export interface SiteSpec { commands: string[]; users?: string[] }

export interface IniSpec {
  sites?: Record<string, SiteSpec>;
  server?: Record<string, string | number>;
}

export function writeIni(path: string, spec: IniSpec): void {
  const sites = spec.sites ?? { 'nims-dev': { commands: ['/bin/echo', '/bin/true'] } };
  const server = { ipaddress: '127.0.0.1', portnumber: 0, loglevel: 2, ...spec.server };
  let text = '[Server]\n' + Object.entries(server).map(([k, v]) => `${k} = ${v}\n`).join('');
  text += `\n[RemoteSites]\nremote_site_ids = ${Object.keys(sites).join('\n\t')}\n`;
  for (const [id, s] of Object.entries(sites)) {
    text += `\n[${id}]\ncommands = ${s.commands.join('\n\t')}\n`;
    if (s.users) text += `users = ${s.users.join(' ')}\n`;
  }
  writeFileSync(path, text);
}

/** Adds users (if missing) and a token for each; returns name -> token. */
export async function makeTokens(dataDir: string, users: string[]): Promise<Record<string, string>> {
  const store = new SqliteStore(dataDir);
  try {
    const acc = new Accounts(store);
    const out: Record<string, string> = {};
    for (const u of users) {
      if (!store.findUser(u)) await acc.addUser(u, null);
      out[u] = acc.createToken(u, 'test').token;
    }
    return out;
  } finally {
    store.close();
  }
}

export interface TestRelay {
  server: RunningServer;
  url: string;
  dir: string;
  iniPath: string;
  dataDir: string;
  tokens: Record<string, string>;
  /** A JSON call; returns HTTP status, parsed body and headers. */
  call(method: 'GET' | 'POST', endpoint: string, body?: unknown, token?: string | null): Promise<{ status: number; body: any; headers: Headers }>;
}

export async function startTestRelay(t: TestContext, o: IniSpec & { users?: string[]; relay?: Partial<RelayOptions>; logLevel?: string } = {}): Promise<TestRelay> {
  const dir = tempDir(t);
  const iniPath = join(dir, 'mi_distributed_computing_assist.ini');
  const dataDir = join(dir, 'data');
  writeIni(iniPath, o);
  const tokens = await makeTokens(dataDir, o.users ?? ['alice', 'bob']);
  const server = await startServer({ configPath: iniPath, dataDir, port: 0, logLevel: o.logLevel ?? 'silent', relay: o.relay });
  t.after(() => server.close());
  const defaultToken = Object.values(tokens)[0] ?? null;
  return {
    server, url: server.url, dir, iniPath, dataDir, tokens,
    async call(method, endpoint, body, token = defaultToken) {
      const headers: Record<string, string> = { 'content-type': 'application/json' };
      if (token !== null) headers['authorization'] = `Bearer ${token}`;
      const res = await fetch(`${server.url}/mi-distcomp-api/${endpoint}`, {
        method, headers, body: body === undefined ? undefined : typeof body === 'string' ? body : JSON.stringify(body),
      });
      const text = await res.text();
      let parsed: unknown = text;
      try { parsed = JSON.parse(text); } catch { /* keep text */ }
      return { status: res.status, body: parsed, headers: res.headers };
    },
  };
}

/** calc-info for add-calcinfo with text files. */
export function calcInfo(o: { site?: string; command?: string; parameters?: string; files?: Record<string, string | Buffer>; results?: string[] } = {}): unknown {
  return {
    'calc-info': {
      command: o.command ?? '/bin/echo',
      'remote-site': o.site ?? 'nims-dev',
      parameters: o.parameters ?? 'hello',
      parameter_files: Object.fromEntries(Object.entries(o.files ?? { 'in.txt': 'input\n' }).map(([n, c]) => [
        n, [Buffer.from(c).toString('base64'), typeof c === 'string' ? 'text/plain;' : 'application/octet-stream;', typeof c === 'string' ? 'charset=us-ascii' : 'charset=binary'],
      ])),
      result_files: Object.fromEntries((o.results ?? ['out.txt', '計算標準出力.txt', '計算標準エラー出力.txt']).map((n) => [n, { content: '', mimetype1: '', mimetype2: '' }])),
    },
  };
}

export const code = (r: { body: any }): unknown => r.body?.errors?.[0]?.code;
export const message = (r: { body: any }): unknown => r.body?.errors?.[0]?.message;
