#!/usr/bin/env node
// `npm run build` (also run by `prepare` and `pretest`): dist/ from src/.
//
// 1. tsc emits every module but the CLI's as its own file (dist/<folder>/*.js, with source
//    maps), as before: what imports single modules from dist (bench/files.bench.ts) keeps working.
// 2. esbuild then bundles the CLI (dist/cli/), because every module file the CLI loads cost
//    ~0.5-1 ms to resolve and load on our 2-core machines (`distcomp submit` loaded 30 files):
//    - dist/cli/main.js (the bin, from bin.ts), CommonJS (dist/cli/package.json says so): it
//      runs an ordinary `distcomp submit` or `distcomp ssh` itself, without Node's ES module
//      loader (15-21 ms of each submit here), and imports main.mjs for everything else;
//    - dist/cli/main.mjs: main.ts and commander in one file; each subcommand a chunk (.mjs)
//      loaded only when it runs (code splitting), so fastify, better-sqlite3 and pino (left
//      as packages in node_modules) load only for the commands that use them;
//    - dist/cli/submit-fast-path.cjs: submit's commander-free path as one file of its own
//      (in the split build its modules were spread over ~10 chunks shared with the agent and
//      the server), as CommonJS without comments or indentation: main.js compiles it through
//      a V8 code cache (src/cli/code-cache.ts), which Node 20 offers for scripts, not modules;
//      dist/cli/ssh-fast-path.cjs, the same for `distcomp ssh`.
//    The chunks sit in dist/cli/, at the depth of every src/<folder>/ module, so that paths
//    built from import.meta.url ('../../package.json', '../../templates/...') still resolve.
import { spawnSync } from 'node:child_process';
import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { build } from 'esbuild';

const root = new URL('..', import.meta.url).pathname;
const require = createRequire(import.meta.url);
rmSync(`${root}dist`, { recursive: true, force: true });

const tsc = spawnSync(process.execPath, [require.resolve('typescript/bin/tsc'), '-p', 'tsconfig.build.json'], { cwd: root, stdio: 'inherit' });
if (tsc.status !== 0) process.exit(tsc.status ?? 1);

const pkg = JSON.parse(readFileSync(`${root}package.json`, 'utf8'));
/** Bundled: commander (pure JS, loaded by every command). The rest stay packages. */
const external = Object.keys(pkg.dependencies).filter((d) => d !== 'commander');

const common = {
  absWorkingDir: root,
  bundle: true,
  platform: 'node',
  format: 'esm',
  target: 'node20',
  outdir: 'dist/cli',
  external,
  sourcemap: true,
  logLevel: 'warning',
  // commander is CommonJS: its require() calls of node: modules need a `require` in ESM
  banner: { js: "import { createRequire as __distcompRequire } from 'node:module'; const require = __distcompRequire(import.meta.url);" },
};

// The commands: an ES module with code splitting (dist/cli/main.mjs and its chunks).
await build({ ...common, entryPoints: ['src/cli/main.ts'], splitting: true, chunkNames: '[name]-[hash]', outExtension: { '.js': '.mjs' } });

// CommonJS: the program itself (dist/cli/main.js, from bin.ts) and submit's bundle, so that a
// submit never starts Node's ES module loader; dist/cli/package.json makes the .js one CommonJS.
const commonJs = {
  ...common,
  format: 'cjs',
  splitting: false,
  // CommonJS has no import.meta; createRequire(import.meta.url) and the like get the file's URL.
  // "use strict" first: the banner comes before esbuild's own directive, which it would void
  // (the ES modules these bundles come from were strict)
  define: { 'import.meta.url': '__distcompModuleUrl' },
  banner: { js: '"use strict";\nconst __distcompModuleUrl = require("node:url").pathToFileURL(__filename).href;' },
};
await build({ ...commonJs, entryPoints: { main: 'src/cli/bin.ts' } });
await build({ ...commonJs, entryPoints: ['src/cli/submit-fast-path.ts', 'src/cli/ssh-fast-path.ts'], outExtension: { '.js': '.cjs' }, minifyWhitespace: true });
writeFileSync(`${root}dist/cli/package.json`, `${JSON.stringify({ type: 'commonjs' })}\n`);
