import { existsSync } from "node:fs";
import { type Browser, chromium } from "playwright-core";

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
