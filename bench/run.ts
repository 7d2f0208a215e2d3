// `npm run bench -- <name>`: runs bench/<name>.bench.ts, which prints JSON lines, each figure
// beside its same-run baseline.
const name = process.argv[2];
if (name === undefined || !/^[a-z0-9-]+$/.test(name)) {
  console.error('usage: npm run bench -- <name>   (runs bench/<name>.bench.ts)');
  process.exit(2);
}
await import(`./${name}.bench.ts`);
