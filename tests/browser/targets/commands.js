'use strict';
// The stdin protocol of the node targets, the same as the C targets'
// (lib/proc.mjs drives both): "start <pid>" first, then one stdout line for
// each stdin line, the handler's answer ("ok …"), or "error" (and the line
// on stderr) when it returns undefined; at end of input "done", and exit.
//
//   require('./commands.js')('node_alloc', (line) => …answer or undefined…, atEnd);

module.exports = function serveCommands(name, handle, atEnd = () => {}) {
  process.stdout.write(`start ${process.pid}\n`);
  let partial = '';
  process.stdin.setEncoding('utf8');
  process.stdin.on('data', (d) => {
    partial += d;
    let nl;
    while ((nl = partial.indexOf('\n')) >= 0) {
      const line = partial.slice(0, nl);
      partial = partial.slice(nl + 1);
      const answer = handle(line);
      if (answer === undefined) {
        process.stderr.write(`${name}: bad command: ${line}\n`);
        process.stdout.write('error\n');
      } else {
        process.stdout.write(`${answer}\n`);
      }
    }
  });
  process.stdin.on('end', () => {
    atEnd();
    process.stdout.write('done\n');
    // The inspector keeps the loop alive while a client is attached: leave explicitly.
    process.exit(0);
  });
};
