// flame_open.mjs — opens `heapscope convert`'s HTML flame graphs in headless
// Chromium (playwright-core from tests/node/node_modules) with every request
// but the file itself refused, and checks that each draws the expected number
// of frame rectangles (div.frame), each with a tooltip in bytes, with no
// console error, and that a click zooms (the root becomes an ancestor bar).
// Usage: node flame_open.mjs NODE_MODULES CHROMIUM FILE.html FRAMES [FILE FRAMES...]
import { createRequire } from 'node:module';
import path from 'node:path';
import { pathToFileURL } from 'node:url';

const [nodeModules, chromiumPath, ...pairs] = process.argv.slice(2);
const require = createRequire(path.join(nodeModules, 'x.js'));
const { chromium } = require('playwright-core');

let failures = 0;
const fail = (msg) => { console.error('FAIL: ' + msg); failures++; };
const browser = await chromium.launch({
  executablePath: chromiumPath,
  headless: true,
  args: ['--no-sandbox', '--disable-gpu', '--disable-background-networking'],
});
try {
  for (let i = 0; i < pairs.length; i += 2) {
    const file = pairs[i], want = Number(pairs[i + 1]);
    const context = await browser.newContext({ viewport: { width: 1200, height: 800 } });
    const page = await context.newPage();
    const url = pathToFileURL(path.resolve(file)).href;
    const refused = [], errors = [];
    await page.route('**/*', (route) => {
      if (route.request().url() === url) return route.continue();
      refused.push(route.request().url());
      return route.abort();
    });
    page.on('console', (m) => { if (m.type() === 'error') errors.push(m.text()); });
    page.on('pageerror', (e) => errors.push(String(e)));
    await page.goto(url);
    await page.waitForSelector('body[data-frames], body[data-error]', { timeout: 10000 });
    const got = await page.evaluate(() => ({
      frames: document.querySelectorAll('div.frame').length,
      said: Number(document.body.dataset.frames),
      error: document.body.dataset.error || '',
      titles: [...document.querySelectorAll('div.frame')].every((d) => / bytes/.test(d.title)),
    }));
    if (got.frames !== want || got.said !== want)
      fail(`${file}: ${got.frames} frames drawn (page says ${got.said}), expected ${want}`);
    if (!got.titles) fail(`${file}: a frame without a tooltip in bytes`);
    if (got.error) fail(`${file}: script error ${got.error}`);
    if (want > 1) {
      await page.locator('div.frame').nth(1).click({ force: true });
      const anc = await page.locator('div.frame.ancestor').count();
      if (anc !== 1) fail(`${file}: after a click on a child of the root, ${anc} ancestor bars`);
    }
    if (errors.length) fail(`${file}: console errors: ${errors.join(' | ')}`);
    if (refused.length) fail(`${file}: requested ${refused.join(', ')}`);
    await context.close();
  }
} finally {
  await browser.close();
}
process.exit(failures ? 1 : 0);
