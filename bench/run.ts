// `npm run bench -- <name>`: runs bench/<name>.bench.ts, which prints JSON lines (each figure
// next to its same-run baseline).
const name = process.argv[2];
if (!name || !/^[a-z0-9-]+$/.test(name)) {
  process.stderr.write('usage: npm run bench -- <name>   (runs bench/<name>.bench.ts)\n');
  process.exit(2);
}
await import(`./${name}.bench.ts`);
