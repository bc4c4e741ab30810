// A program (node --inspect, or a C program under the agent) and Chrome
// DevTools' Memory panel open on it, both torn down when the test ends:
//
//   const { program, dt } = await memoryPanelOn(t, { kind: 'agent', target, screenshot });
//
// The screenshot name's "-failed.png" left by an earlier run is removed first.

import fs from 'node:fs';
import { artifactPath } from './env.mjs';
import { startProgram } from './proc.mjs';
import { launchChromium } from './browser.mjs';
import { openMemoryPanel } from './devtools.mjs';

export async function memoryPanelOn(t, { kind, target, screenshot }) {
  fs.rmSync(artifactPath(`${screenshot}-failed.png`), { force: true });
  const program = await startProgram(target ? { kind, target } : { kind });
  let browser = null;
  t.after(async () => {
    await browser?.close();
    await program.kill();
  });
  browser = await launchChromium();
  const dt = await openMemoryPanel(browser, { ws: program.ws });
  return { program, browser, dt };
}
