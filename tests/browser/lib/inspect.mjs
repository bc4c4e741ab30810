// Object inspection in DevTools' Memory panel and Console, the UI actions the
// twin tests devtools-node-inspect.test.mjs (node --inspect, the reference)
// and devtools-agent-inspect.test.mjs (a C program under the agent) share.
//
//   const row = snapshotRow(page, probe.id);            // a Summary/Retainers instance row by its @id
//   await hoverName(row);                               // its popover shows (~1 s, DevTools' delay)
//   await popoverLine(page, /^nested:/).waitFor();      // a property line of the popover
//   await popoverTitle(page);                           // 'HsiProbe' (the RemoteObject's description)
//   await popoverLines(page);                           // ['kind: "probe"', 'count: 42', …] (flat)
//   await popoverTree(page);                            // [{line: '0: …', children: [...]}] (nesting kept)
//   await hidePopover(page, snaps);
//   await contextMenu(page, row.locator('td').first(), 'Store as global variable', { x: 0.5 });
//   await typeInConsole(page, '$0');                    // click the prompt, type, Enter
//   const { handle, text } = await consoleMessage(page, /^'inner'$/);
//   ok(await traffic.reply('HeapProfiler.collectGarbage')); // the reply's result, or an assertion error
//
// The selectors are those of tests/browser/README.md's table (Chromium 156):
// the popover is [data-stable-name-for-test="object-popover-content"], the
// Console's messages .console-message-text, its prompt the textbox
// "Console prompt". Every wait is a locator or page wait bounded by
// env.actionMs, never a sleep.

import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { env } from './env.mjs';

/* A row of a snapshot's grid (Summary, Retainers). */
export const ROW = 'tr.data-grid-data-grid-node';
/* The object popover that hovering an instance's name shows. */
export const POPOVER = '[data-stable-name-for-test="object-popover-content"]';

/* A CDP pair ({method, params, reply}) answered with a result: that result; else an assertion error naming the request. */
export function ok(pair) {
  assert.ok(pair.reply && !pair.reply.error, `${pair.method} ${JSON.stringify(pair.params)} answered ${JSON.stringify(pair.reply)}`);
  return pair.reply.result;
}

/* `chromium --version` of env.chromium, or 'unknown' (for the recorded traffic's header). */
export function chromiumVersion() {
  try {
    return execFileSync(env.chromium, ['--version'], { encoding: 'utf8', timeout: 10000, stdio: ['ignore', 'pipe', 'ignore'] }).trim();
  } catch {
    return 'unknown';
  }
}

/* The Runtime.executionContextCreated event of `step` (the console needs it), once it came. */
export function contextCreated(traffic, step = 'attach') {
  return traffic.until(() => traffic.events(step).find((e) => e.method === 'Runtime.executionContextCreated'), env.actionMs, 'Runtime.executionContextCreated');
}

/* The shown instance row of heap object `id` ("@id" in its name cell). */
export function snapshotRow(page, id) {
  return page.locator(ROW).filter({ hasText: `@${id}` }).first();
}

/* The selected row of snaps.rows()' answer, if any. */
export const selectedRow = (rows) => rows.find((r) => r.selected);

/* Hovers an instance row's name (span.value): its popover shows after DevTools' delay. */
export async function hoverName(row) {
  await row.locator('span.value').first().hover();
}

/* Moves the mouse off the rows (onto the Perspective combobox) and waits for the popover to go. */
export async function hidePopover(page, snaps) {
  await snaps.panel.getByRole('combobox', { name: 'Perspective' }).hover();
  await page.locator(POPOVER).waitFor({ state: 'detached' });
}

/* The popover's property lines (.name-and-value) whose text matches hasText (a RegExp or a substring). */
export function popoverLine(page, hasText) {
  return page.locator(POPOVER).locator('.name-and-value').filter({ hasText });
}

/* The popover's title: the RemoteObject's description. */
export async function popoverTitle(page) {
  return (await page.locator(`${POPOVER} .object-popover-title`).innerText()).trim();
}

/* The popover's property lines, "name: value" ("kind: \"probe\"", "count: 42"), expanded ones' children in line. */
export async function popoverLines(page) {
  // innerText puts spaces around the separator ("kind : ..."): one form.
  return page.locator(`${POPOVER} .name-and-value`).evaluateAll((els) => els.map((el) => el.innerText.replace(/\s+/g, ' ').trim().replace(/^(.*?) : /, '$1: ')));
}

/*
 * The popover's property lines as a tree: [{line: "name: value", children: [...]}],
 * children being the lines shown under an expanded property. The popover's
 * tree (devtools-tree) has an open shadow root: an ol[role=tree] of li, each
 * followed by its ol.children; the li carries the property's name in
 * data-object-property-name-for-test, its value is the span.value of its title.
 */
export async function popoverTree(page) {
  return page.locator(POPOVER).evaluate((root) => {
    const walk = (ol) =>
      [...ol.children]
        .filter((li) => li.localName === 'li')
        .map((li) => {
          const name = li.getAttribute('data-object-property-name-for-test');
          const value = li.querySelector('.tree-element-title .value');
          const next = li.nextElementSibling;
          const open = li.classList.contains('expanded') && next && next.localName === 'ol' && next.classList.contains('children');
          return { line: `${name}: ${value ? value.textContent.replace(/\s+/g, ' ').trim() : ''}`, children: open ? walk(next) : [] };
        });
    const tree = root.querySelector('devtools-tree');
    const top = tree && tree.shadowRoot && tree.shadowRoot.querySelector('ol[role=tree]');
    return top ? walk(top) : [];
  });
}

/* The lines of popoverTree()'s top level (or of a node's children). */
export const lines = (tree) => tree.map((n) => n.line);

/*
 * Right-clicks target (a Locator or an ElementHandle), then the menu item
 * named `item`. With x (0..1), the click is at that fraction of its width,
 * half its height: beside a row's name, over which a popover would start.
 */
export async function contextMenu(page, target, item, { x } = {}) {
  const options = { button: 'right' };
  if (x !== undefined) {
    const box = await target.boundingBox();
    options.position = { x: Math.round(box.width * x), y: Math.round(box.height / 2) };
  }
  await target.click(options);
  await page.getByRole('menuitem', { name: item }).click();
}

/* Clicks the Console's prompt and types text, then Enter unless enter is false. */
export async function typeInConsole(page, text, { enter = true } = {}) {
  await page.getByRole('textbox', { name: 'Console prompt' }).click();
  await page.keyboard.type(text);
  if (enter) await page.keyboard.press('Enter');
}

/*
 * The nth message of DevTools' Console whose rendered text matches re, once
 * shown: {handle, text}. An object's message is a tree in shadow roots that
 * hold their own <style>, so the text is read from the flat tree without
 * style elements (playwright's hasText would see the CSS too).
 */
export async function consoleMessage(page, re, nth = 0) {
  const found = await page.waitForFunction(
    ({ source, flags, nth: n }) => {
      const text = (node) => {
        if (node.nodeType === Node.TEXT_NODE) return node.data;
        if (node.nodeType !== Node.ELEMENT_NODE || node.localName === 'style' || node.localName === 'template') return '';
        const kids = node.localName === 'slot' ? node.assignedNodes() : node.shadowRoot ? node.shadowRoot.childNodes : node.childNodes;
        return [...kids].map(text).join('');
      };
      const messages = [];
      const visit = (root) => {
        for (const el of root.querySelectorAll('*')) {
          if (el.classList.contains('console-message-text')) messages.push(el);
          if (el.shadowRoot) visit(el.shadowRoot);
        }
      };
      visit(document);
      const match = new RegExp(source, flags);
      const hits = messages.map((el) => ({ el, text: text(el).replace(/\s+/g, ' ').trim() })).filter((m) => match.test(m.text));
      return hits[n] ? { el: hits[n].el, text: hits[n].text } : null;
    },
    { source: re.source, flags: re.flags, nth },
    { timeout: env.actionMs, polling: 100 }
  );
  const handle = await found.getProperty('el');
  const text = await (await found.getProperty('text')).jsonValue();
  return { handle: handle.asElement(), text };
}

/* Every message of DevTools' Console, as rendered (for failure messages); [] if the page is gone. */
export async function consoleTexts(page) {
  return page
    .locator('.console-message-text')
    .allInnerTexts()
    .catch(() => []);
}

/* The last n requests of the run, one line each (for failure messages): "[step] method params -> reply", cut. */
export function lastRequests(traffic, { n = 12, replyChars = 200 } = {}) {
  return traffic
    .pairs()
    .slice(-n)
    .map((r) => `[${r.step}] ${r.method} ${JSON.stringify(r.params || {}).slice(0, 200)} -> ${JSON.stringify(r.reply || 'no reply').slice(0, replyChars)}`);
}
