// What every browser test shares: the checks, Debian's Chromium, and one run with a deadline
// that always cleans up and ends with the closing line CI reads ('1 passed, 0 failed').
import { chromium } from 'playwright-core';

export function check(condition, message) {
  if (!condition) throw new Error(message);
}

/** Debian's Chromium (or $CHROMIUM), headless, with nothing of its own going online. */
export function launchChromium() {
  return chromium.launch({
    executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
    headless: true,
    args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
      '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  });
}

/** Runs `main` once within 90 s; `cleanup` runs whatever happens. */
export function run(name, main, cleanup) {
  let deadline;
  const finish = (error) => {
    clearTimeout(deadline);
    try { cleanup(); } catch { /* the result stands */ }
    if (error) {
      console.error(`${name} failed: ${error}`);
      console.log('0 passed, 1 failed');
      process.exit(1);
    }
    console.log('1 passed, 0 failed');
    process.exit(0);
  };
  deadline = setTimeout(() => finish('timed out after 90 s'), 90_000);
  main().then(() => finish(null)).catch((e) => finish(e.stack || String(e)));
}
