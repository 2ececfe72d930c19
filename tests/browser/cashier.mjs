// End to end in headless Chromium: the real service (fresh SQLite file, the built-in
// sandboxes), a small real merchant server, and the hosted cashier clicked through three
// times: on a desktop both channels' QR codes, paid by WeChat, then an Alipay order paid by
// its QR; on a phone the mobile flows, paid through Alipay wap pay and the sandbox's Alipay
// cashier. Each lands on the merchant's success_url and its signed webhook arrives.
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

async function createOrder(base, apiKey, merchant, id, payMethod) {
  const created = await fetch(`${base}/v1/orders`, {
    method: 'POST',
    headers: { Authorization: `Bearer ${apiKey}`, 'Content-Type': 'application/json' },
    body: JSON.stringify({
      merchant_order_id: id,
      merchant_user_id: 'shopper-1',
      amount: 128800,
      pay_method: payMethod,
      return_url: `${merchant.base}/notify`,
      success_url: `${merchant.base}/success`,
      description: '天天吃货-付款用户[shopper-1]',
    }),
  });
  check(created.status === 201, `create ${id} answered ${created.status}`);
  return created.json();
}

async function waitForWebhook(merchant, id) {
  const start = Date.now();
  while (Date.now() - start < 10_000) {
    const form = merchant.webhooks.find((f) => f.get('merchantOrderId') === id);
    if (form) return form;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`no webhook for ${id}`);
}

// Runs in the page: its argument is the image's id.
const imageLoaded = (id) => {
  const img = document.getElementById(id);
  return img && img.complete && img.naturalWidth > 0;
};

async function main() {
  const { base, apiKey } = await startService();
  const merchant = await startMerchant();
  const out = join(here, 'out');
  mkdirSync(out, { recursive: true });

  browser = await launchChromium();
  const page = await browser.newPage({ viewport: { width: 1280, height: 800 } });
  const violations = [];
  page.on('console', (message) => {
    if (message.type() === 'error') violations.push(message.text());
  });
  page.on('response', (response) => {
    if (response.status() >= 400) violations.push(`${response.status()} ${response.url()}`);
  });

  // Desktop: both channels' QR codes side by side; paid by WeChat.
  const first = await createOrder(base, apiKey, merchant, 'browser-wechat', null);
  await page.goto(first.checkout_url);
  check((await page.textContent('#amount')) === '1,288.00', 'the amount in yuan, thousands separated');
  check((await page.textContent('.merchant')) === 'Demo merchant', 'the merchant name');
  check((await page.textContent('#order-no')) === 'browser-wechat', 'the order number');
  await page.waitForFunction(imageLoaded, 'qr', { timeout: 10_000 });
  await page.waitForFunction(imageLoaded, 'alipay-qr', { timeout: 10_000 });
  check(await page.isVisible('#qr') && await page.isVisible('#alipay-qr'), 'both QR codes on a desktop');
  check(!(await page.isVisible('#mobile-alipay')), 'no mobile buttons on a desktop');
  await page.waitForFunction(() => /^\d+:\d\d$/.test(document.getElementById('countdown').textContent), null, { timeout: 5_000 });
  const countdown = await page.textContent('#countdown');
  check(countdown.startsWith('119:') || countdown.startsWith('120:'), `the countdown: ${countdown}`);
  check(await page.isVisible('.sandbox-banner'), 'a sandbox order says so on the page');
  check((await page.textContent('.sandbox-banner')).includes('SANDBOX'), 'the banner text');
  check(await page.isVisible('#back-to-shop'), 'a link back to the shop');
  await page.screenshot({ path: join(out, 'cashier-desktop.png') });
  await page.click('#simulate');
  await page.waitForSelector('#paid', { state: 'visible', timeout: 15_000 });
  await page.screenshot({ path: join(out, 'cashier-paid.png') });
  await page.waitForURL(`${merchant.base}/success`, { timeout: 10_000 });
  check((await page.textContent('#thanks')).includes('Thank you'), "the merchant's success page");
  const wechatForm = await waitForWebhook(merchant, 'browser-wechat');
  check(wechatForm.get('status') === 'PAID' && wechatForm.get('payMethod') === 'wechat', 'paid through WeChat');

  // Desktop, paid by Alipay's QR code.
  const second = await createOrder(base, apiKey, merchant, 'browser-alipay', 'alipay');
  await page.goto(second.checkout_url);
  await page.waitForFunction(imageLoaded, 'alipay-qr', { timeout: 10_000 });
  check(!(await page.isVisible('#qr')), 'an Alipay order shows no WeChat code');
  await page.screenshot({ path: join(out, 'cashier-alipay-desktop.png') });
  await page.click('#simulate-alipay');
  await page.waitForSelector('#paid', { state: 'visible', timeout: 15_000 });
  await page.waitForURL(`${merchant.base}/success`, { timeout: 10_000 });
  const alipayForm = await waitForWebhook(merchant, 'browser-alipay');
  check(alipayForm.get('payMethod') === 'alipay', 'paid through Alipay');

  // A phone: no QR to scan, the mobile flows; Alipay wap pay and back to the cashier.
  const third = await createOrder(base, apiKey, merchant, 'browser-phone', null);
  await page.setViewportSize({ width: 390, height: 844 });
  await page.goto(third.checkout_url);
  check(await page.isVisible('#mobile-alipay'), "Alipay's mobile flow on a phone");
  // WeChat's H5 page lives at wx.tenpay.com, out of a sandbox's reach: a sandbox phone simulates.
  check(!(await page.isVisible('#mobile-wechat')) && await page.isVisible('#simulate'), 'a sandbox phone simulates WeChat');
  check(!(await page.isVisible('#qr')) && !(await page.isVisible('#alipay-qr')), 'no QR codes on a phone');
  await page.screenshot({ path: join(out, 'cashier-phone.png'), fullPage: true });
  await page.click('#mobile-alipay');
  await page.waitForSelector('#alipay-pay', { timeout: 10_000 });
  await page.screenshot({ path: join(out, 'alipay-sandbox-cashier-phone.png') });
  await page.click('#alipay-pay');
  await page.waitForSelector('#paid', { state: 'visible', timeout: 15_000 });
  await page.screenshot({ path: join(out, 'cashier-phone-paid.png') });
  await page.waitForURL(`${merchant.base}/success`, { timeout: 10_000 });
  const phoneForm = await waitForWebhook(merchant, 'browser-phone');
  check(phoneForm.get('payMethod') === 'alipay', 'the phone paid through Alipay wap pay');

  check(violations.length === 0, `no console errors (CSP included): ${violations.join('; ')}`);
  merchant.server.close();
  await browser.close();
  console.log('browser: three orders paid in headless Chromium: WeChat and Alipay QR on a desktop, Alipay wap pay on a phone');
}

run('browser test', main, cleanup);
