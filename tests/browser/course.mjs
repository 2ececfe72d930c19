// The foodie-dev course's payment page, unchanged in what it does, in headless Chromium: served
// from another origin (http://localhost:<port>), it asks the real service for the QR code with
// axios (`withCredentials`, the course login in imoocUserId / password), then polls the order's
// payment state until the sandbox's payment shows. The preflight and every answer must carry
// CORS for that origin, or the browser hides them from the page.
import { check, launchChromium, run } from './harness.mjs';
import { spawn, execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, mkdirSync, readFileSync } from 'node:fs';
import { createServer } from 'node:http';
import { tmpdir } from 'node:os';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
const binary = process.env.PAYMENT_CENTER_BIN || join(here, '..', '..', 'target', 'debug', 'payment-center');
const login = { user: 'imooc', password: 'imooc-course-2026' };
let service;
let browser;
let workdir;

function cleanup() {
  if (service) service.kill('SIGTERM');
  if (workdir) rmSync(workdir, { recursive: true, force: true });
}

/** Starts the service (sandbox, fresh SQLite); answers its base URL and the demo merchant id. */
function startService() {
  workdir = mkdtempSync(join(tmpdir(), 'pc-course-'));
  const env = { PATH: process.env.PATH, BIND_ADDR: '127.0.0.1:0', DATABASE_URL: join(workdir, 'test.db'), RUST_LOG: 'info' };
  service = spawn(binary, ['serve'], { cwd: workdir, env });
  let stdout = '';
  let stderr = '';
  return new Promise((resolve, reject) => {
    const look = () => {
      const id = stdout.match(/"merchant_id": "(mch_[a-z0-9]+)"/);
      const base = stderr.match(/public base URL (http:\/\/127\.0\.0\.1:\d+)/);
      if (id && base) resolve({ base: base[1], merchantId: id[1], env });
    };
    service.stdout.on('data', (d) => { stdout += d; look(); });
    service.stderr.on('data', (d) => { stderr += d; look(); });
    service.on('exit', (code) => reject(new Error(`the service exited (${code}): ${stderr}`)));
  });
}

/** The course's page, on its own origin, and axios as the course loads it. */
function startStorefront(paymentServerUrl, orderId, userId) {
  const axiosJs = readFileSync(join(here, 'node_modules', 'axios', 'dist', 'axios.min.js'));
  const page = `<!doctype html><meta charset="utf-8"><title>天天吃货 - 微信支付</title>
<style>body{font-family:sans-serif;text-align:center;margin-top:40px} #qr{word-break:break-all;margin:16px}</style>
<h1>天天吃货 · 微信支付</h1><p>订单 ${orderId}</p><p id="qr">loading…</p><p id="status">等待支付</p>
<script src="/axios.js"></script>
<script src="/page.js"></script>`;
  const script = `
axios.defaults.withCredentials = true;
const paymentServerUrl = ${JSON.stringify(paymentServerUrl)};
const headers = { headers: { imoocUserId: ${JSON.stringify(login.user)}, password: ${JSON.stringify(login.password)} } };
const query = '?merchantUserId=${userId}&merchantOrderId=${orderId}';
axios.post(paymentServerUrl + '/payment/getWXPayQRCode' + query, {}, headers).then((res) => {
  if (res.data.status !== 200) { document.getElementById('qr').textContent = 'error: ' + res.data.msg; return; }
  document.getElementById('qr').textContent = res.data.data.qrCodeUrl;
  const poll = () => axios.post(paymentServerUrl + '/payment/getPaymentCenterOrderInfo' + query, {}, headers).then((r) => {
    if (r.data.status === 200 && r.data.data.payStatus === 20) {
      document.getElementById('status').textContent = '支付成功';
    } else {
      setTimeout(poll, 300);
    }
  });
  poll();
}).catch((e) => { document.getElementById('qr').textContent = 'blocked: ' + e.message; });`;
  const server = createServer((req, res) => {
    if (req.url === '/axios.js') return res.writeHead(200, { 'Content-Type': 'text/javascript' }).end(axiosJs);
    if (req.url === '/page.js') return res.writeHead(200, { 'Content-Type': 'text/javascript' }).end(script);
    return res.writeHead(200, { 'Content-Type': 'text/html; charset=utf-8' }).end(page);
  });
  return new Promise((resolve) => {
    server.listen(0, '127.0.0.1', () => resolve({ server, origin: `http://localhost:${server.address().port}` }));
  });
}

async function main() {
  const { base, merchantId, env } = await startService();
  execFileSync(binary, ['merchant', 'legacy-login', '--merchant-id', merchantId, '--user-id', login.user, '--password', login.password],
    { cwd: workdir, env, stdio: ['ignore', 'pipe', 'pipe'] });
  const paymentServerUrl = `${base}/foodie-payment`;
  const orderId = '210216HW7D4NGT2W';
  const userId = '190815GTKCBSS7MW';
  // The course's backend creates the order, server to server.
  const created = await fetch(`${paymentServerUrl}/payment/createMerchantOrder`, {
    method: 'POST',
    headers: { 'Content-Type': 'application/json', imoocUserId: login.user, password: login.password },
    body: JSON.stringify({ merchantOrderId: orderId, merchantUserId: userId, amount: 1, payMethod: 1,
      returnUrl: 'http://127.0.0.1:9/orders/notifyMerchantOrderPaid' }),
  }).then((r) => r.json());
  check(created.status === 200, `createMerchantOrder: ${JSON.stringify(created)}`);

  const storefront = await startStorefront(paymentServerUrl, orderId, userId);
  browser = await launchChromium();
  const page = await browser.newPage();
  const problems = [];
  page.on('console', (message) => { if (message.type() === 'error') problems.push(message.text()); });
  page.on('requestfailed', (request) => problems.push(`failed: ${request.url()}`));
  await page.goto(storefront.origin);
  await page.waitForFunction(() => /^(weixin:|error|blocked)/.test(document.getElementById('qr').textContent), null, { timeout: 15_000 });
  const codeUrl = await page.textContent('#qr');
  check(codeUrl.startsWith('weixin://wxpay/bizpayurl?pr='), `the page got the QR code cross-origin: ${codeUrl}`);
  mkdirSync(join(here, 'out'), { recursive: true });
  await page.screenshot({ path: join(here, 'out', 'course-before.png') });

  // The shopper scans and pays (the sandbox plays WeChat).
  const paid = await fetch(`${base}/sandbox/wechat/simulate-pay`, {
    method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify({ code_url: codeUrl }),
  }).then((r) => r.json());
  check(paid.notified === true, `simulate-pay: ${JSON.stringify(paid)}`);
  await page.waitForFunction(() => document.getElementById('status').textContent === '支付成功', null, { timeout: 15_000 });
  await page.setViewportSize({ width: 390, height: 844 });
  await page.screenshot({ path: join(here, 'out', 'course-paid-phone.png') });
  check(problems.length === 0, `no console errors or blocked requests: ${problems.join('; ')}`);

  storefront.server.close();
  await browser.close();
  console.log('browser: the course page got its QR code and the paid state from another origin');
}

run('course browser test', main, cleanup);
