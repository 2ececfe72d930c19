// End to end in headless Chromium: the real service (debug binary, fresh SQLite file, the
// built-in sandbox), a small real merchant server, and the hosted cashier clicked through:
// load the page, see the QR and the amount, click "simulate payment", see success, land on
// the merchant's success_url, and receive the signed webhook.
import { check, launchChromium, run } from './harness.mjs';
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, mkdirSync } from 'node:fs';
import { createServer } from 'node:http';
import { tmpdir } from 'node:os';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
const binary = process.env.PAYMENT_CENTER_BIN || join(here, '..', '..', 'target', 'debug', 'payment-center');
let service;
let browser;
let workdir;

function cleanup() {
  if (service) service.kill('SIGTERM');
  if (workdir) rmSync(workdir, { recursive: true, force: true });
}

/** Starts the service on port 0; answers its base URL and the demo merchant's API key. */
function startService() {
  workdir = mkdtempSync(join(tmpdir(), 'pc-browser-'));
  service = spawn(binary, ['serve'], {
    cwd: workdir,
    env: { PATH: process.env.PATH, BIND_ADDR: '127.0.0.1:0', DATABASE_URL: join(workdir, 'test.db'), RUST_LOG: 'info' },
  });
  let stdout = '';
  let stderr = '';
  return new Promise((resolve, reject) => {
    const look = () => {
      const key = stdout.match(/"api_key": "(sk_[A-Za-z0-9]+)"/);
      const base = stderr.match(/public base URL (http:\/\/127\.0\.0\.1:\d+)/);
      if (key && base) resolve({ base: base[1], apiKey: key[1] });
    };
    service.stdout.on('data', (d) => { stdout += d; look(); });
    service.stderr.on('data', (d) => { stderr += d; look(); });
    service.on('exit', (code) => reject(new Error(`the service exited (${code}): ${stderr}`)));
  });
}

/** The merchant: a success page for the shopper and a webhook endpoint. */
function startMerchant() {
  const webhooks = [];
  const server = createServer((req, res) => {
    let body = '';
    req.on('data', (d) => { body += d; });
    req.on('end', () => {
      if (req.method === 'POST' && req.url === '/notify') {
        webhooks.push(new URLSearchParams(body));
        res.writeHead(200).end('success');
      } else {
        res.writeHead(200, { 'Content-Type': 'text/html; charset=utf-8' })
          .end('<!doctype html><title>Thanks</title><h1 id="thanks">谢谢惠顾 Thank you</h1>');
      }
    });
  });
  return new Promise((resolve) => {
    server.listen(0, '127.0.0.1', () => resolve({ server, webhooks, base: `http://127.0.0.1:${server.address().port}` }));
  });
}

async function main() {
  const { base, apiKey } = await startService();
  const merchant = await startMerchant();
  const created = await fetch(`${base}/v1/orders`, {
    method: 'POST',
    headers: { Authorization: `Bearer ${apiKey}`, 'Content-Type': 'application/json' },
    body: JSON.stringify({
      merchant_order_id: 'browser-1',
      merchant_user_id: 'shopper-1',
      amount: 1,
      pay_method: 'wechat',
      return_url: `${merchant.base}/notify`,
      success_url: `${merchant.base}/success`,
      description: '天天吃货-付款用户[shopper-1]',
    }),
  });
  check(created.status === 201, `create answered ${created.status}`);
  const order = await created.json();

  browser = await launchChromium();
  const page = await browser.newPage();
  const violations = [];
  page.on('console', (message) => {
    if (message.type() === 'error') violations.push(message.text());
  });
  page.on('response', (response) => {
    if (response.status() >= 400) violations.push(`${response.status()} ${response.url()}`);
  });
  await page.goto(order.checkout_url);
  check((await page.textContent('#amount')) === '0.01', 'the amount in yuan');
  check((await page.textContent('.merchant')) === 'Demo merchant', 'the merchant name');
  await page.waitForFunction(() => {
    const qr = document.getElementById('qr');
    return qr && qr.complete && qr.naturalWidth > 0;
  }, null, { timeout: 10_000 });
  check(await page.isVisible('#qr'), 'the QR code is shown');
  await page.waitForFunction(() => /^\d+:\d\d$/.test(document.getElementById('countdown').textContent), null, { timeout: 5_000 });
  const countdown = await page.textContent('#countdown');
  check(countdown.startsWith('119:') || countdown.startsWith('120:'), `the countdown: ${countdown}`);
  check(await page.isVisible('.sandbox-banner'), 'a sandbox order says so on the page');
  check((await page.textContent('.sandbox-banner')).includes('SANDBOX'), 'the banner text');
  mkdirSync(join(here, 'out'), { recursive: true });
  await page.screenshot({ path: join(here, 'out', 'cashier-before.png') });
  await page.setViewportSize({ width: 390, height: 844 });
  await page.screenshot({ path: join(here, 'out', 'cashier-phone.png') });
  await page.setViewportSize({ width: 1280, height: 720 });

  await page.click('#simulate');
  await page.waitForSelector('#paid', { state: 'visible', timeout: 15_000 });
  await page.screenshot({ path: join(here, 'out', 'cashier-paid.png') });
  await page.waitForURL(`${merchant.base}/success`, { timeout: 10_000 });
  check((await page.textContent('#thanks')).includes('Thank you'), "the merchant's success page");

  const waitStart = Date.now();
  while (merchant.webhooks.length === 0 && Date.now() - waitStart < 10_000) {
    await new Promise((r) => setTimeout(r, 100));
  }
  check(merchant.webhooks.length >= 1, 'the paid webhook reached the merchant');
  const form = merchant.webhooks[0];
  check(form.get('merchantOrderId') === 'browser-1' && form.get('status') === 'PAID', 'the webhook names the order, PAID');
  check(violations.length === 0, `no console errors (CSP included): ${violations.join('; ')}`);

  merchant.server.close();
  await browser.close();
  console.log('browser: the cashier page was paid through in headless Chromium');
}

run('browser test', main, cleanup);
