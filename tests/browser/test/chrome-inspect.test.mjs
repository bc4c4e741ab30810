// chrome://inspect finds the target by itself and "inspect" opens DevTools
// on it (issue 7: "the target appears under Remote Target for
// localhost:9229 and "inspect" opens DevTools on it"): first `node --inspect`
// (the reference), then a C program under the agent, each on its default
// endpoint, 127.0.0.1:9229.
//
// In a fresh headless Chromium, with no setting changed: chrome://inspect is
// open before the program starts, its "Discover network targets" is on and
// lists localhost:9229, and the program then shows up under "Remote Target
// #LOCALHOST" headed "localhost:9229 (<version from /json/version>)", named
// by /json/list's title, with its url and the "inspect" link. "inspect"
// opens DevTools (the Node frontend, js_app.html, tunnelled through the
// browser) as a new window; there the Memory panel lists the VM instance
// "Main" with its heap size, and a heap snapshot holds the program's own
// objects (HsbListNode ×300 in node, make_list_node's 20 blocks in the C
// program), so DevTools is on this program and usable. When the program
// exits its entry goes away. See lib/chrome-inspect.mjs for how.
//
// Port 9229 is fixed: ctest entries that bind it share the RESOURCE_LOCK
// "port9229"; a port taken anyway fails the test with what holds it.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { env, artifactPath } from '../lib/env.mjs';
import { launchChromium } from '../lib/browser.mjs';
import { MemoryPanel } from '../lib/devtools.mjs';
import { HeapSnapshots, describeRows, sourceSites } from '../lib/snapshot.mjs';
import { ChromeInspect, BROWSER_ID, requirePortFree, startOnDefaultPort, discoveryJson, showMemoryPanel, takeFirstSnapshot, fileUrl } from '../lib/chrome-inspect.mjs';

const SNAPSHOT_SOURCE = path.join(env.repo, 'tests', 'browser', 'targets', 'snapshot_target.c');

async function inspectScenario(t, { kind, target, shot, title, url, version, cls, count }) {
  for (const f of ['failed', 'devtools-failed']) fs.rmSync(artifactPath(`${shot}-${f}.png`), { force: true });
  await requirePortFree();

  let browser = null;
  let program = null;
  let devtools = null;
  t.after(async () => {
    await browser?.close();
    await program?.kill();
  });
  browser = await launchChromium();
  const ci = await ChromeInspect.open(browser);
  const context = () =>
    `\n--- DevTools console ---\n${devtools?.log.tail() ?? '(no DevTools window)'}\n--- ${program?.label ?? kind} stderr ---\n${program?.stderr.slice(-2000) ?? ''}`;
  try {
    // Discovery as shipped: on, with localhost:9229 in its list; nothing there yet.
    const settings = await ci.discoverySettings();
    assert.equal(settings.enabled, true, '"Discover network targets" is on in a fresh profile');
    assert.ok(settings.locations.includes(BROWSER_ID), `the discovery list includes ${BROWSER_ID}: ${JSON.stringify(settings.locations)}`);
    assert.deepEqual(await ci.targets(), [], `nothing is listed under ${BROWSER_ID} before the program starts`);

    program = await startOnDefaultPort({ kind, target });
    const list = await discoveryJson('/json/list');
    const ver = await discoveryJson('/json/version');
    assert.equal(list.length, 1, `one target in /json/list: ${JSON.stringify(list)}`);
    assert.equal(list[0].type, 'node', '/json/list type');
    assert.equal(list[0].title, title, '/json/list title');
    assert.equal(list[0].url, url, '/json/list url');
    assert.match(ver.Browser, version, '/json/version Browser');

    // The open page polls localhost:9229 and lists the program. (Its heading
    // was written while nothing answered there: it lacks the version.)
    const heading = `${BROWSER_ID} (${ver.Browser.split('/')[1]})`; // "host:port (what follows / in Browser)"
    const live = await ci.waitForTarget(title);
    await ci.screenshot(`${shot}-devices-live`);
    assert.deepEqual(live.all, [{ name: title, url, actions: ['inspect', 'inspect fallback'] }], `the target as it appears on the open page:\n${JSON.stringify(live, null, 1)}`);
    assert.ok([BROWSER_ID, heading].includes(live.browser), `the heading on the open page: ${JSON.stringify(live.browser)}`);

    // Loaded afresh, the page shows all of it.
    await ci.reload();
    const entry = await ci.waitForTarget(title, heading);
    await ci.screenshot(`${shot}-devices`);
    const show = `\n--- chrome://inspect ---\n${JSON.stringify(entry, null, 1)}`;
    assert.equal(entry.device, 'Remote Target', show);
    assert.equal(entry.serial, '#LOCALHOST', show);
    assert.equal(entry.browser, heading, show);
    assert.deepEqual(entry.all, [{ name: title, url, actions: ['inspect', 'inspect fallback'] }], `the one target under ${BROWSER_ID}: its title, url and links${show}`);

    // "inspect": a DevTools window, the Node frontend, connected through the browser.
    devtools = await ci.inspect(title);
    assert.match(devtools.url(), /^devtools:\/\/devtools\/bundled\/js_app\.html\?/, `a target of type "node" opens the Node frontend js_app.html: ${devtools.url()}`);
    const vm = await showMemoryPanel(devtools);
    await devtools.screenshot({ path: artifactPath(`${shot}-memory.png`) });
    assert.equal(vm.count, 1, `one JavaScript VM instance: ${JSON.stringify(vm)}`);
    assert.equal(vm.name, 'Main', `the VM instance is the frontend's main target: ${JSON.stringify(vm)}`);
    assert.match(vm.size, /^[\d.,]+\s?[kMG]?B$/, `its heap size (Runtime.getHeapUsage): ${JSON.stringify(vm)}`);
    if (kind === 'node') await program.waitStderr(/Debugger attached\./, env.actionMs, 'node to say "Debugger attached."');

    // Usable, and on this program: a heap snapshot holds its objects.
    const label = await takeFirstSnapshot(devtools);
    const snaps = new HeapSnapshots(new MemoryPanel(browser, devtools, null, null));
    await snaps.filterByClass(cls);
    const rows = await snaps.rows((rs) => rs.some((r) => r.kind === 'class' && r.name === cls && r.count === count));
    await devtools.screenshot({ path: artifactPath(`${shot}-snapshot.png`) });
    const row = rows.find((r) => r.kind === 'class' && r.name === cls);
    assert.equal(row?.count, count, `${label}, Summary filtered by "${cls}":\n${describeRows(rows)}${context()}`);
    assert.deepEqual(devtools.log.uncaught(), [], 'uncaught errors in DevTools');

    // Gone from the list once the program exits.
    await devtools.close();
    devtools = null;
    await program.kill();
    await ci.waitForNoTarget();
    await ci.screenshot(`${shot}-gone`);
  } catch (e) {
    await ci.screenshot(`${shot}-failed`).catch(() => {});
    if (devtools) await devtools.screenshot({ path: artifactPath(`${shot}-devtools-failed.png`) }).catch(() => {});
    e.message += context();
    throw e;
  }
}

test('node --inspect: chrome://inspect lists it under Remote Target localhost:9229, "inspect" opens DevTools on it (the reference)', { timeout: 42000 }, async (t) => {
  const script = path.resolve(env.nodeSnapshotTarget);
  await inspectScenario(t, {
    kind: 'node',
    target: script,
    shot: 'chrome-inspect-node',
    title: script,
    url: pathToFileURL(script).href,
    version: new RegExp(`^node\\.js/${process.version.replace(/\./g, '\\.')}$`),
    cls: 'HsbListNode',
    count: 300,
  });
});

test('heapscope agent: chrome://inspect lists the C program under Remote Target localhost:9229, "inspect" opens DevTools on it, its Memory panel works', { timeout: 42000 }, async (t) => {
  const site = sourceSites(SNAPSHOT_SOURCE, ['make_list_node']);
  await inspectScenario(t, {
    kind: 'agent',
    target: env.cSnapshotTarget,
    shot: 'chrome-inspect-agent',
    title: env.cSnapshotTarget, // the command line
    url: fileUrl(env.cSnapshotTarget), // /proc/self/exe
    version: /^heapscope\/v\d+\.\d+\.\d+/,
    cls: site.make_list_node,
    count: 20,
  });
});
