// The hosted cashier: shows the order's state as the server rendered it, counts down to its
// expiry, and learns of the payment by polling the storefront API (with backoff), so the
// shopper never reloads. No secret is here: the checkout token in the URL is the capability.
(function () {
  'use strict';
  var root = document.getElementById('cashier');
  if (!root) { return; }
  var token = root.dataset.token;
  var expiresAt = Date.parse(root.dataset.expiresAt);
  var successUrl = root.dataset.successUrl || '';
  var codeUrl = root.dataset.codeUrl || '';
  // The Alipay QR code (when the order can be paid with Alipay): kept as the page drew it.
  var alipayCode = root.dataset.alipayCode || '';
  var sections = ['pay', 'unavailable', 'paid', 'closed', 'expired'];
  var finished = false;
  var delay = 1000;
  var timer = null;

  function show(name) {
    sections.forEach(function (id) {
      var el = document.getElementById(id);
      if (el) { el.hidden = id !== name; }
    });
  }

  function finish(name) {
    finished = true;
    show(name);
    if (name === 'paid' && successUrl) {
      document.getElementById('redirect').hidden = false;
      setTimeout(function () { window.location.assign(successUrl); }, 1500);
    }
  }

  function apply(view) {
    if (view.status === 'PAID' || view.status === 'PAID_AFTER_CLOSE') { return finish('paid'); }
    if (view.status === 'CLOSED') { return finish('closed'); }
    if (Date.now() >= expiresAt) { return finish('expired'); }
    var qr = document.getElementById('qr');
    if (view.code_url && qr && view.code_url !== codeUrl) {
      codeUrl = view.code_url;
      qr.src = '/v1/checkout/' + encodeURIComponent(token) + '/qr.svg?v=' + Date.now();
    }
    show(view.code_url || alipayCode ? 'pay' : 'unavailable');
  }

  function schedule(ms) {
    if (timer) { clearTimeout(timer); }
    timer = setTimeout(poll, ms);
  }

  function poll() {
    if (finished) { return; }
    fetch('/v1/checkout/' + encodeURIComponent(token), { cache: 'no-store' })
      .then(function (response) { return response.ok ? response.json() : null; })
      .then(function (view) { if (view) { apply(view); } })
      .catch(function () { /* the network comes back: keep polling */ })
      .then(function () {
        delay = Math.min(delay * 1.5, 10000);
        schedule(delay);
      });
  }

  function tick() {
    var left = Math.max(0, Math.floor((expiresAt - Date.now()) / 1000));
    var countdown = document.getElementById('countdown');
    if (countdown) {
      var minutes = Math.floor(left / 60);
      var seconds = left % 60;
      countdown.textContent = minutes + ':' + (seconds < 10 ? '0' : '') + seconds;
    }
    if (left === 0 && !finished) {
      // One last look: a payment at the last second still counts.
      finished = true;
      fetch('/v1/checkout/' + encodeURIComponent(token), { cache: 'no-store' })
        .then(function (response) { return response.ok ? response.json() : null; })
        .then(function (view) {
          if (view && (view.status === 'PAID' || view.status === 'PAID_AFTER_CLOSE')) { finish('paid'); } else { finish('expired'); }
        })
        .catch(function () { finish('expired'); });
      return;
    }
    if (!finished) { setTimeout(tick, 1000); }
  }

  // The sandbox's "simulate payment": the shopper scans and pays, on the channel's sandbox.
  function simulateWith(buttonId, path, body) {
    var button = document.getElementById(buttonId);
    if (!button) { return; }
    button.addEventListener('click', function () {
      button.disabled = true;
      fetch(path, {
        method: 'POST',
        headers: { 'Content-Type': 'application/json' },
        body: JSON.stringify(body())
      }).then(function () {
        delay = 1000;
        schedule(0);
      }).catch(function () { button.disabled = false; });
    });
  }
  simulateWith('simulate', '/sandbox/wechat/simulate-pay', function () { return { code_url: codeUrl }; });
  simulateWith('simulate-alipay', '/sandbox/alipay/simulate-pay', function () { return { qr_code: alipayCode }; });

  var initial = root.dataset.status;
  if (initial === 'PAID' || initial === 'PAID_AFTER_CLOSE') { finish('paid'); return; }
  if (initial === 'CLOSED') { finish('closed'); return; }
  if (Date.now() >= expiresAt) { finish('expired'); return; }
  tick();
  schedule(delay);
})();
