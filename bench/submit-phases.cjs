// Preloaded into `distcomp submit` by the e2e bench (`node --require ./bench/submit-phases.cjs`;
// CommonJS, so that it does not start Node's ES module loader, which the installed submit avoids):
// when each HTTP request of the process is sent (Node publishes http.client.request.start once
// the request has been ended and handed to its socket), when its answer arrives (its headers
// read), and when the process exits, in ms since the process started (performance.now()), from Node's own
// diagnostics channels, so that the submit's code is untouched and no strace slows it down.
// One JSON line per process, appended to $DISTCOMP_BENCH_PHASES_FILE (none when it is empty):
//   {"marks":[["req add-calcinfo",121.4],["resp",126.7], ...,["exit",145.2]]}
const { appendFileSync } = require('node:fs');
const dc = require('node:diagnostics_channel');

const file = process.env.DISTCOMP_BENCH_PHASES_FILE;
if (file) {
  const marks = [];
  dc.subscribe('http.client.request.start', ({ request }) => {
    marks.push([`req ${request.path.replace(/^\/mi-distcomp-api\//, '').replace(/\?.*$/, '')}`, performance.now()]);
  });
  dc.subscribe('http.client.response.finish', () => marks.push(['resp', performance.now()]));
  process.on('exit', () => {
    marks.push(['exit', performance.now()]);
    appendFileSync(file, `${JSON.stringify({ marks })}\n`);
  });
}
