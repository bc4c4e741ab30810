// speedscope's importer, the real one: the built web app that the npm
// package ships (dist/release/index.html) opened from file:// in headless
// Chromium, and a profile given to its file input, as "Browse" does.
//
//   const r = await importInSpeedscope(browser, '/path/x.heapprofile');
//   r.importer   // "Chrome Heap Profile" (its console line "Importing as …")
//   r.title      // "x.heapprofile - speedscope"
//   r.symbols    // function names of the Sandwich view's table
//   r.uncaught   // exceptions nobody caught
//
// A failed import rejects: speedscope logs "Failed to load format …" and shows
// "Something went wrong.", or alerts "Unrecognized format!" or an empty profile.

import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { env, artifactPath, packageDir, requireFile } from './env.mjs';

export async function importInSpeedscope(browser, file, { screenshot } = {}) {
  const index = requireFile(path.join(packageDir('speedscope'), 'dist', 'release', 'index.html'), "speedscope's built app");
  const page = await browser.newPage();
  const log = page.log;
  try {
    await page.goto(pathToFileURL(index).href);
    await page.locator('input#file').setInputFiles(file);
    const name = path.basename(file);
    // Whichever comes first: the title naming the file (success) or a failure signal.
    const titleWait = page
      .waitForFunction((n) => document.title === `${n} - speedscope`, name, { timeout: env.actionMs })
      .then(() => 'loaded');
    const errorShown = page
      .getByText('Something went wrong.')
      .waitFor({ timeout: env.actionMs })
      .then(() => 'error');
    const failed = log.until(
      () => {
        const f = log.console.find((e) => /^Failed to load format/.test(e.text));
        if (f) return `speedscope: ${f.text}`;
        if (log.dialogs.length) return `speedscope alerted: ${log.dialogs.join('; ')}`;
        if (log.pageErrors.length) return `uncaught: ${log.pageErrors[0]}`;
        return undefined;
      },
      env.actionMs,
      'a failure signal'
    );
    const outcome = await Promise.race([titleWait, errorShown, failed].map((p) => p.catch((e) => `timeout: ${e.message}`)));
    if (outcome !== 'loaded') {
      throw new Error(`speedscope did not import ${file}: ${outcome}\n--- console ---\n${log.tail()}`);
    }
    const importing = log.console.find((e) => /^Importing as /.test(e.text));
    if (screenshot) await page.screenshot({ path: artifactPath(`${screenshot}-flame.png`) });
    // The Sandwich view is a DOM table of every function (the flame charts are canvas).
    await page.getByText(/Sandwich$/).click();
    const table = page.locator('table').filter({ has: page.locator('td') });
    await table.locator('tr').first().waitFor();
    const symbols = await table.locator('tr').evaluateAll((trs) =>
      trs.map((tr) => {
        const tds = tr.querySelectorAll('td');
        return tds.length ? tds[tds.length - 1].textContent.trim() : '';
      })
    );
    if (screenshot) await page.screenshot({ path: artifactPath(`${screenshot}-sandwich.png`) });
    return {
      importer: importing ? importing.text.replace(/^Importing as /, '') : null,
      title: await page.title(),
      symbols,
      uncaught: log.uncaught(),
      consoleErrors: log.errors.map((e) => e.text),
    };
  } finally {
    log.dispose();
    await page.close().catch(() => {});
  }
}
