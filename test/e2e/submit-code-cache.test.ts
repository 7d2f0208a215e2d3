// The built `distcomp submit` compiles its bundle through a V8 code cache of the user's own
// (src/cli/code-cache.ts): made by the first submit that went its whole way, used (not rewritten)
// by the next, replaced when V8 rejects it, never read from or written to a directory that
// others can write (nor made in one of another user), touched when used, other builds' removed
// once a week old, and off with DISTCOMP_CODE_CACHE=off. Against the real relay and agent, as
// processes.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { chmodSync, chownSync, copyFileSync, existsSync, mkdirSync, readdirSync, readFileSync, statSync, utimesSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { AgentProcess, Scratch } from '../helpers/agent-process.ts';
import { CLI, RelayProcess } from '../helpers/relay-process.ts';
import { runSubmit, runSubmitWith } from '../helpers/submit-process.ts';

const SITE = 'site-code-cache';
const TRUE = '/bin/true';

describe('submit code cache', { timeout: 120_000 }, () => {
  const s = new Scratch();
  let relay: RelayProcess;
  let agent: AgentProcess;
  let n = 0;

  before(async () => {
    const calcBase = s.path('calcs');
    mkdirSync(calcBase);
    relay = await RelayProcess.start({ sites: { [SITE]: { commands: [TRUE] } } });
    agent = new AgentProcess([SITE, relay.url, `calc_base:${calcBase}`, '--allow-command', TRUE], {
      env: { ...process.env, DISTCOMP_TOKEN: relay.token() },
    });
    await agent.waitFor(/code = 0300/);
  });

  after(async () => {
    await agent?.kill9();
    await relay?.cleanup();
    s.cleanup();
  });

  /** A fresh XDG_CACHE_HOME; the cache directory inside it. */
  const cacheHome = (): { home: string; dir: string } => {
    const home = s.path(`cache-${++n}`);
    mkdirSync(home, { mode: 0o700 });
    return { home, dir: join(home, 'distcomp') };
  };

  const submit = async (extra: NodeJS.ProcessEnv, args: string[] = []): Promise<void> => {
    const cwd = s.path(`wf-${++n}`);
    mkdirSync(cwd);
    const env = { ...process.env, DISTCOMP_TOKEN: relay.token(), ...extra };
    const r = await runSubmit([relay.url, SITE, TRUE, '', '', '--quiet', ...args], { cwd, env });
    assert.equal(r.code, 0, r.stderr);
  };

  const caches = (dir: string): string[] => (existsSync(dir) ? readdirSync(dir).filter((f) => f.endsWith('.v8cache')) : []);

  it('is made by the first submit (700 / 600), then used as it is', async () => {
    const { home, dir } = cacheHome();
    await submit({ XDG_CACHE_HOME: home });
    const [file, ...more] = caches(dir);
    assert.ok(file, 'a cache after the first submit');
    assert.deepEqual(more, []);
    assert.match(file, /^submit-fast-path\.cjs-\d+-\d+-\d+-\d+-v\d+\.\d+\.\d+-\w+\.v8cache$/, 'size, inode, ctime, mtime, Node, arch');
    assert.equal(statSync(dir).mode & 0o777, 0o700);
    const path = join(dir, file);
    assert.equal(statSync(path).mode & 0o777, 0o600);
    assert.ok(statSync(path).size > 10_000, 'it holds the compiled functions');
    const before = statSync(path);
    const hourAgo = new Date(Date.now() - 3600_000);
    utimesSync(path, hourAgo, hourAgo);
    await submit({ XDG_CACHE_HOME: home });
    const again = statSync(path);
    assert.equal(again.ino, before.ino, 'a cache V8 took is not written again');
    assert.ok(again.mtimeMs > hourAgo.getTime() + 1000, 'but touched: used now');
  });

  it('a cache V8 rejects is replaced, and the submit works all the same', async () => {
    const { home, dir } = cacheHome();
    await submit({ XDG_CACHE_HOME: home });
    const [file] = caches(dir);
    assert.ok(file);
    const path = join(dir, file);
    const junk = Buffer.alloc(statSync(path).size, 7);
    writeFileSync(path, junk);
    await submit({ XDG_CACHE_HOME: home });
    assert.notDeepEqual(readFileSync(path), junk, 'made again');
    const remade = statSync(path);
    await submit({ XDG_CACHE_HOME: home });
    assert.equal(statSync(path).ino, remade.ino, 'and that one is used');
  });

  it('is neither read nor written where others can write, nor when turned off', async () => {
    const open = cacheHome();
    mkdirSync(open.dir, { mode: 0o777 });
    chmodSync(open.dir, 0o777);
    await submit({ XDG_CACHE_HOME: open.home });
    assert.deepEqual(caches(open.dir), [], 'nothing written to a directory others can write');

    // a cache file that others can write is not read: a new one of ours replaces it
    const shared = cacheHome();
    await submit({ XDG_CACHE_HOME: shared.home });
    const [file] = caches(shared.dir);
    assert.ok(file);
    const path = join(shared.dir, file);
    chmodSync(path, 0o666);
    const before = statSync(path);
    await submit({ XDG_CACHE_HOME: shared.home });
    assert.notEqual(statSync(path).ino, before.ino);
    assert.equal(statSync(path).mode & 0o777, 0o600);

    // root with another user's home (sudo -E): nothing is created in a directory not its own
    if (process.getuid?.() === 0) {
      const foreign = cacheHome();
      chownSync(foreign.home, 65534, 65534);
      await submit({ XDG_CACHE_HOME: foreign.home });
      assert.equal(existsSync(foreign.dir), false, 'no distcomp directory made in a directory of another user');
    }

    const off = cacheHome();
    await submit({ XDG_CACHE_HOME: off.home, DISTCOMP_CODE_CACHE: 'off' });
    assert.equal(existsSync(off.dir), false);
  });

  it("removes other builds' caches a week old when it makes its own, and keeps recent ones", async () => {
    const { home, dir } = cacheHome();
    mkdirSync(dir, { mode: 0o700 });
    const stale = join(dir, 'submit-fast-path.cjs-123-456-v20.0.0-x64.v8cache');
    writeFileSync(stale, 'old', { mode: 0o600 });
    const weekAgo = new Date(Date.now() - 8 * 24 * 3600 * 1000);
    utimesSync(stale, weekAgo, weekAgo);
    // another installation's, in use: two installations must not remove each other's at every run
    const recent = join(dir, 'submit-fast-path.cjs-789-1011-v20.0.0-x64.v8cache');
    writeFileSync(recent, 'recent', { mode: 0o600 });
    await submit({ XDG_CACHE_HOME: home });
    assert.equal(existsSync(stale), false);
    assert.equal(existsSync(recent), true);
    assert.equal(caches(dir).length, 2);
  });

  it('a bundle changed in place, same length and same mtime, never runs the old cache', async () => {
    // V8 checks only the source's length: the cache's name must tell the new file from the old
    const cli = s.path('inplace', 'cli');
    mkdirSync(cli, { recursive: true });
    for (const f of ['main.js', 'package.json', 'submit-fast-path.cjs']) copyFileSync(join(dirname(CLI), f), join(cli, f));
    const bundle = join(cli, 'submit-fast-path.cjs');
    const { home } = cacheHome();
    const env = { ...process.env, DISTCOMP_TOKEN: relay.token(), XDG_CACHE_HOME: home };
    const go = async (): Promise<string> => {
      const cwd = s.path(`wf-${++n}`);
      mkdirSync(cwd);
      const r = await runSubmitWith(join(cli, 'main.js'), [relay.url, SITE, TRUE, '', ''], { cwd, env });
      assert.equal(r.code, 0, r.stderr);
      return r.stdout;
    };
    assert.match(await go(), /calc status = completed/);
    const old = statSync(bundle);
    writeFileSync(bundle, readFileSync(bundle, 'utf8').replace('calc status = ', 'calc STATUS = '));
    utimesSync(bundle, old.atime, old.mtime);
    assert.equal(statSync(bundle).size, old.size);
    assert.match(await go(), /calc STATUS = completed/, 'the new code ran');
  });

  it('a submit that fails (exit 2) leaves no cache', async () => {
    const { home, dir } = cacheHome();
    const cwd = s.path(`wf-${++n}`);
    mkdirSync(cwd);
    const r = await runSubmit(['http://127.0.0.1:1', SITE, TRUE, '', '', '--retry', '0'], { cwd, env: { ...process.env, DISTCOMP_TOKEN: relay.token(), XDG_CACHE_HOME: home } });
    assert.equal(r.code, 2, r.stderr);
    assert.deepEqual(caches(dir), []);
  });
});
