// One scenario, two targets: DevTools' "Allocation sampling" recorded around
// a known amount of allocation, then the profile's views read back.
//
//   start the program (agent or node) -> open DevTools on it -> choose
//   "Allocation sampling" -> Start (wait for the startSampling answer) ->
//   `work N` on the program's stdin (wait for "ok") -> Stop (wait for the
//   stopSampling answer and the rows) -> Heavy (bottom up): every function in
//   selfAllocating is a top-level row with bytes -> Tree (top down), expanded:
//   each sits directly under `caller` -> the profile DevTools received, saved
//   as a .heapprofile, loads in DevTools and in speedscope -> no uncaught error.
//
// Everything the program allocates in a command stays live until the next
// one, and sampling keeps live samples: with ~1.5 MiB a round and DevTools'
// 16 KiB mean interval, N = 4 gives each function hundreds of samples on
// average, so none is missed by chance (e^-100 and below).

import assert from 'node:assert/strict';
import fs from 'node:fs';
import { artifactPath } from './env.mjs';
import { memoryPanelOn } from './session.mjs';
import { checkInDevTools, checkInSpeedscope } from './heapprofile.mjs';

function describe(rows) {
  return rows.map((r) => `${' '.repeat(Math.round(r.indent / 4))}${r.name} self=${r.self} total=${r.total}`).join('\n');
}

export async function runSamplingInDevTools(t, { kind, screenshot, selfAllocating, caller, rounds = 4 }) {
  const { program, browser, dt } = await memoryPanelOn(t, { kind, screenshot });
  let profile;
  try {
    await dt.selectProfileType('Allocation sampling');
    await dt.start();
    await program.command(`work ${rounds}`);
    const result = await dt.stop();
    profile = result && result.profile;
    assert.ok(profile && profile.head, `stopSampling answered without a profile: ${JSON.stringify(result).slice(0, 300)}`);
    fs.writeFileSync(artifactPath(`${screenshot}.heapprofile`), JSON.stringify(profile));

    await dt.setViewMode('Heavy (bottom up)');
    const topOf = (rows) => rows.filter((r) => r.indent === Math.min(...rows.map((x) => x.indent)));
    const heavy = await dt.rowsUntil((rows) => selfAllocating.every((fn) => topOf(rows).some((r) => r.name === fn)));
    const top = topOf(heavy);
    await dt.screenshot(`${screenshot}-heavy`);
    for (const fn of selfAllocating) {
      const row = top.find((r) => r.name === fn);
      assert.ok(row, `Heavy (bottom up) has no top-level row for ${fn}:\n${describe(heavy)}`);
      assert.ok(row.self > 0, `${fn} allocated but its self size reads ${JSON.stringify(row.cells)}`);
    }

    await dt.setViewMode('Tree (top down)');
    await dt.expandAll();
    await dt.screenshot(`${screenshot}-tree`);
    const tree = await dt.rows();
    for (const fn of selfAllocating) {
      const i = tree.findIndex((r) => r.name === fn);
      assert.ok(i >= 0, `Tree (top down) has no row for ${fn}:\n${describe(tree)}`);
      const parent = tree
        .slice(0, i)
        .reverse()
        .find((r) => r.indent < tree[i].indent);
      assert.equal(parent && parent.name, caller, `in Tree (top down), ${fn} should be called by ${caller}:\n${describe(tree)}`);
    }
    assert.deepEqual(dt.uncaught(), [], 'uncaught errors in DevTools');
  } catch (e) {
    await dt.screenshot(`${screenshot}-failed`).catch(() => {});
    throw e;
  } finally {
    await dt.close();
  }

  // The profile as DevTools received it, saved as a file: the file checks.
  const file = artifactPath(`${screenshot}.heapprofile`);
  await checkInDevTools(browser, file, { expectNames: [...selfAllocating, caller] });
  await checkInSpeedscope(browser, file, { expectNames: [...selfAllocating, caller], screenshot: `${screenshot}-speedscope` });
}
