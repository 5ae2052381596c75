// Takes a screenshot of the store page for docs/ui.png:
//   node scripts/ui-screenshot.mjs http://127.0.0.1:PORT/ui/ docs/ui.png [selector-to-click]
// Uses Debian's chromium through puppeteer-core (a devDependency).
import { launch } from 'puppeteer-core';

const [url, out, click] = process.argv.slice(2);
if (!url || !out) {
  console.error('usage: node scripts/ui-screenshot.mjs URL OUT.png [SELECTOR]');
  process.exit(2);
}
const browser = await launch({ executablePath: '/usr/bin/chromium', headless: true, args: ['--no-sandbox', '--disable-gpu'] });
try {
  const page = await browser.newPage();
  await page.setViewport({ width: 1400, height: 760, deviceScaleFactor: 1 });
  await page.goto(url);
  await page.waitForSelector('.row.layer');
  if (click) {
    await page.click(click);
    await new Promise((r) => setTimeout(r, 1500));
  }
  await page.screenshot({ path: out });
} finally {
  await browser.close();
}
