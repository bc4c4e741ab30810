// Saved .heapprofile files load in DevTools (the Memory panel's Load button)
// and in speedscope's importer. The files: Node 20's golden recordings, and
// any more named in HS_HEAPPROFILES (colon-separated paths), e.g. the agent's.

import { test, before, after } from 'node:test';
import path from 'node:path';
import { env, requireFile } from '../lib/env.mjs';
import { launchChromium } from '../lib/browser.mjs';
import { checkInDevTools, checkInSpeedscope } from '../lib/heapprofile.mjs';

const files = [
  env.golden('sampling-with-gc-flags.heapprofile'),
  env.golden('sampling-stopSampling.heapprofile'),
  ...(process.env.HS_HEAPPROFILES || '').split(':').filter(Boolean),
];

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
