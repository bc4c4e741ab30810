// Saved .heapprofile files load in DevTools (the Memory panel's Load button)
// and in speedscope's importer: Node 20's golden recordings, the file the
// agent writes itself (HEAPSCOPE_SAMPLE, on HEAPSCOPE_PROFILE_SIGNAL), and any
// more named in HS_HEAPPROFILES (colon-separated paths).

import { test, before, after } from 'node:test';
import fs from 'node:fs';
import path from 'node:path';
import { env, artifactPath, requireFile } from '../lib/env.mjs';
import { launchChromium } from '../lib/browser.mjs';
import { startProgram } from '../lib/proc.mjs';
import { checkInDevTools, checkInSpeedscope } from '../lib/heapprofile.mjs';

// Every golden .heapprofile; a missing or empty golden directory fails here, it does not shrink the list.
const goldenDir = requireFile(path.dirname(env.golden('x')), 'the golden recordings (HS_SHARED_DIR)');
const golden = fs
  .readdirSync(goldenDir)
  .filter((f) => f.endsWith('.heapprofile'))
  .sort()
  .map((f) => path.join(goldenDir, f));
if (golden.length === 0) throw new Error(`no .heapprofile in ${goldenDir}`);
const files = [...golden, ...(process.env.HS_HEAPPROFILES || '').split(':').filter(Boolean)];

let browser;
before(async () => {
  browser = await launchChromium();
});
after(async () => {
  await browser?.close();
});

for (const file of files) {
  const base = path.basename(file);
  test(`DevTools loads ${base}`, { timeout: 60000 }, async () => {
    requireFile(file, base);
    await checkInDevTools(browser, file, { screenshot: `devtools-load-${base}` });
  });
  test(`speedscope imports ${base}`, { timeout: 60000 }, async () => {
    requireFile(file, base);
    await checkInSpeedscope(browser, file, { screenshot: `speedscope-${base}` });
  });
}

// The agent's own file: hs-browser-target sampled from load, `work 4`, then
// SIGUSR2 makes the agent write what is live (its stderr says when).
test("the agent's own .heapprofile (HEAPSCOPE_SAMPLE, written on a signal) loads in DevTools and speedscope", { timeout: 60000 }, async (t) => {
  const file = artifactPath('agent-HEAPSCOPE_SAMPLE.heapprofile');
  fs.rmSync(file, { force: true });
  const program = await startProgram({
    kind: 'agent',
    env: { HEAPSCOPE_SAMPLE: '16384', HEAPSCOPE_PROFILE_OUT: file, HEAPSCOPE_PROFILE_SIGNAL: 'USR2' },
  });
  t.after(() => program.kill());
  await program.command('work 4');
  program.signal('SIGUSR2');
  await program.waitStderr(/heapscope: wrote the sampling profile \(on signal\) to (.*)\n/);
  const names = ['hsb_alloc_blocks', 'hsb_alloc_strings', 'hsb_build_list', 'hsb_work', 'main'];
  await checkInDevTools(browser, file, { expectNames: names, screenshot: 'devtools-load-agent-HEAPSCOPE_SAMPLE' });
  await checkInSpeedscope(browser, file, { expectNames: names, screenshot: 'speedscope-agent-HEAPSCOPE_SAMPLE' });
});
