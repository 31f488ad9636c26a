import assert from "node:assert/strict";
import { existsSync } from "node:fs";
import { type Browser, chromium, type Page } from "playwright-core";

/** Debian's chromium, which scripts/browser.sh installs; playwright-core downloads no browser. */
export const CHROMIUM_PATH = "/usr/bin/chromium";

/** Launches headless chromium; fails (never skips) when it is not installed. */
export async function launchChromium(): Promise<Browser> {
  if (!existsSync(CHROMIUM_PATH)) {
    throw new Error(
      `chromium is missing at ${CHROMIUM_PATH}: run \`bash scripts/browser.sh\` as root (it installs Debian's chromium)`,
    );
  }
  // Playwright passes --no-sandbox unless chromiumSandbox is set: tests run as root here.
  return chromium.launch({ executablePath: CHROMIUM_PATH, headless: true });
}

/** Opens `url` in a fresh browser context, runs `run`, and checks no script failed on the page. */
export async function visit(browser: Browser, url: string, run: (page: Page) => Promise<void>) {
  const context = await browser.newContext();
  try {
    const page = await context.newPage();
    const pageErrors: string[] = [];
    page.on("pageerror", (error) => pageErrors.push(error.message));
    await page.goto(url);
    await run(page);
    assert.deepEqual(pageErrors, [], "no script error on the page");
  } finally {
    await context.close();
  }
}
