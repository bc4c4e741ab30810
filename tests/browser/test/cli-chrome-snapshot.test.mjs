// `heapscope snapshot` against Chrome itself (issue 5: "against any target
// (agent, Node, Chrome)"): Debian's Chromium with its remote debugging port,
// a page that holds 3000 objects of a class only it defines, and the CLI
// taking the page's heap snapshot through /json/list and the page's
// WebSocket. The file must be V8's snapshot of that page: its header's
// counts match its arrays, and the class is there 3000 times.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { env, requireFile, withTimeout } from '../lib/env.mjs';
import { launchChromium } from '../lib/browser.mjs';

const HEAPSCOPE = requireFile(path.resolve(process.env.HS_HEAPSCOPE || path.join(env.repo, 'build', 'bin', 'heapscope')), 'heapscope (HS_HEAPSCOPE)');

function run(cmd, args) {
  return new Promise((resolve, reject) => {
    const p = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    p.stdout.on('data', (d) => (out += d));
    p.stderr.on('data', (d) => (err += d));
    p.on('error', reject);
    p.on('close', (code) => resolve({ code, out, err }));
  });
}

test('heapscope snapshot takes a Chrome page\'s heap', async (t) => {
  const browser = await launchChromium();
  t.after(() => browser.close());
  const page = await browser.newPage();
  await page.setContent('<title>hs-snapshot-page</title><p>heap</p>');
  await page.evaluate(() => {
    class HsChromeMarker {
      constructor(i) {
        this.i = i;
      }
    }
    globalThis.hsMarkers = Array.from({ length: 3000 }, (_, i) => new HsChromeMarker(i));
  });
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'hs-chrome-snap-'));
  t.after(() => fs.rmSync(dir, { recursive: true, force: true }));
  const file = path.join(dir, 'page.heapsnapshot');
  // The page is picked out of Chrome's /json/list by its title.
  const r = await withTimeout(
    run(HEAPSCOPE, ['snapshot', '--target', `127.0.0.1:${browser.devtoolsPort}/hs-snapshot-page`, '-o', file]),
    60000,
    'heapscope snapshot'
  );
  assert.equal(r.code, 0, `heapscope snapshot failed: ${r.err}`);
  const s = JSON.parse(fs.readFileSync(file, 'utf8'));
  const meta = s.snapshot.meta;
  const NF = meta.node_fields.length;
  assert.equal(s.nodes.length, s.snapshot.node_count * NF);
  assert.equal(s.edges.length, s.snapshot.edge_count * meta.edge_fields.length);
  assert.equal(s.strings[0], '<dummy>');
  const name = meta.node_fields.indexOf('name');
  const type = meta.node_fields.indexOf('type');
  const objectType = meta.node_types[0].indexOf('object');
  const marker = s.strings.indexOf('HsChromeMarker');
  assert.ok(marker > 0, 'the page\'s class is in the strings');
  let n = 0;
  for (let i = 0; i < s.snapshot.node_count; i++) if (s.nodes[i * NF + name] === marker && s.nodes[i * NF + type] === objectType) n++;
  assert.equal(n, 3000, 'every object of the page\'s class');
  assert.match(r.err, new RegExp(`${s.snapshot.node_count} nodes, ${s.snapshot.edge_count} edges`), 'the CLI reports the header\'s counts');
});
