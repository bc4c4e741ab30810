'use strict';
// The stand-in for hs-test-target when HS_TEST_TARGET=node: the same arguments
// and stdin commands (see hs_target.c), run under `node --inspect`, so that the
// same tests can be pointed at V8 to prove that what they expect is what V8 does.
// Its checksum is its own (deterministic) one, not hs_target.c's.

let rounds = 2000;
let live = 256;
let seed = 1;
let useStdin = false;
let churn = false;
const argv = process.argv.slice(2);
for (let i = 0; i < argv.length; i++) {
  const a = argv[i];
  if (a === '--rounds') rounds = Number(argv[++i]);
  else if (a === '--live') live = Number(argv[++i]);
  else if (a === '--seed') seed = Number(argv[++i]);
  else if (a === '--tag') i++;
  else if (a === '--stdin') useStdin = true;
  else if (a === '--churn') churn = true;
  else {
    process.stderr.write(`node_target: unknown argument ${a}\n`);
    process.exit(2);
  }
}

let rng = (seed * 2654435761) >>> 0 || 1;
function nextRand() {
  rng ^= rng << 13; rng >>>= 0;
  rng ^= rng >>> 17;
  rng ^= rng << 5; rng >>>= 0;
  return rng;
}
let sum = 0x811c9dc5;
function mix(v) {
  sum = (Math.imul(sum ^ v, 16777619) >>> 0);
}
const slots = new Array(live).fill(null);
function step() {
  const r = nextRand();
  const i = r % live;
  if (slots[i]) mix(slots[i].length);
  const n = 1 + (nextRand() % 64);
  slots[i] = Array.from({ length: n }, (_, k) => ({ k, r }));
  mix(n);
}
function runRounds(n) {
  for (let i = 0; i < n; i++) step();
}
const hex = () => sum.toString(16).padStart(8, '0');
let grown = [];
function finish() {
  for (const s of slots) if (s) mix(s.length);
  process.stdout.write(`done ${hex()}\n`, () => process.exit(0));
}

process.stdout.write(`start ${process.pid}\n`);
runRounds(rounds);
if (!useStdin) {
  finish();
} else {
  process.on('SIGTERM', finish);
  let churnTimer = null;
  if (churn) {
    const junk = [];
    churnTimer = setInterval(() => { junk[junk.length % 64] = new Array(100).fill(junk.length); }, 1);
  }
  let pending = '';
  process.stdin.setEncoding('utf8');
  process.stdin.on('data', (d) => {
    pending += d;
    let nl;
    while ((nl = pending.indexOf('\n')) >= 0) {
      const line = pending.slice(0, nl);
      pending = pending.slice(nl + 1);
      let m;
      if ((m = /^rounds (\d+)$/.exec(line))) {
        runRounds(Number(m[1]));
        process.stdout.write(`ok ${hex()}\n`);
      } else if ((m = /^grow (\d+)$/.exec(line))) {
        // 1 MiB of V8 heap per unit: a packed array of 131072 doubles.
        for (let i = 0; i < Number(m[1]); i++) grown.push(Array.from({ length: 131072 }, (_, k) => k + 0.5));
        process.stdout.write(`grown ${grown.length}\n`);
      } else if (line === 'shrink') {
        grown = [];
        process.stdout.write('shrunk\n');
      } else if (line === 'quit') {
        process.stdin.pause();
        if (churnTimer) clearInterval(churnTimer);
        finish();
      } else if (line) {
        process.stdout.write('unknown command\n');
      }
    }
  });
  process.stdin.on('end', () => {
    if (churnTimer) clearInterval(churnTimer);
    finish();
  });
}
