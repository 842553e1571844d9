'use strict';
// Payouts admin dashboard. Plain ES2020, no libraries; served inline under a
// hash-based Content-Security-Policy, so: no inline handlers, no innerHTML with
// API data, no eval. Every API URL is relative (no leading slash) so the page
// works at /admin locally and at /<stage>/admin behind API Gateway.
(function () {

  // BEGIN format-functions (pure, no DOM: format_test.mjs extracts this block)
  const INTEGER_TEXT = /^-?[0-9]+$/;

  // An integer (number, bigint or digit string) as a BigInt; anything else throws.
  // Money is never touched by floating-point arithmetic.
  function toBigIntStrict(value) {
    if (typeof value === 'bigint') return value;
    if (typeof value !== 'number' && typeof value !== 'string') {
      throw new TypeError('not an integer: ' + String(value));
    }
    const text = String(value);
    if (!INTEGER_TEXT.test(text)) throw new TypeError('not an integer: ' + text);
    return BigInt(text);
  }

  // "12345678" -> "1,23,45,678": the last three digits, then groups of two.
  function groupIndian(digits) {
    if (digits.length <= 3) return digits;
    const head = digits.slice(0, -3);
    const groups = [];
    let end = head.length;
    while (end > 2) {
      groups.unshift(head.slice(end - 2, end));
      end -= 2;
    }
    groups.unshift(head.slice(0, end));
    return groups.join(',') + ',' + digits.slice(-3);
  }

  // Integer paise -> "₹1,23,456.78".
  function formatPaise(paise) {
    let n = toBigIntStrict(paise);
    const negative = n < 0n;
    if (negative) n = -n;
    const rupees = (n / 100n).toString();
    const rest = (n % 100n).toString().padStart(2, '0');
    return (negative ? '-' : '') + '₹' + groupIndian(rupees) + '.' + rest;
  }

  // A count with Indian grouping: 123456 -> "1,23,456".
  function formatCount(count) {
    const n = toBigIntStrict(count);
    return n < 0n ? '-' + groupIndian((-n).toString()) : groupIndian(n.toString());
  }

  // Seconds -> "45 s", "12 min", "3 h 12 min", "2 d 5 h".
  function formatAge(seconds) {
    if (seconds === null || seconds === undefined || seconds === '') return '—';
    const s = Number(seconds);
    if (!Number.isFinite(s) || s < 0) return '—';
    const total = Math.floor(s);
    if (total < 60) return total + ' s';
    const minutes = Math.floor(total / 60);
    if (minutes < 60) return minutes + ' min';
    const hours = Math.floor(minutes / 60);
    if (hours < 24) return minutes % 60 ? hours + ' h ' + (minutes % 60) + ' min' : hours + ' h';
    const days = Math.floor(hours / 24);
    return hours % 24 ? days + ' d ' + (hours % 24) + ' h' : days + ' d';
  }

  // Pixel length of a bar: full * amount / max, from BigInt ratios (pixels are
  // not money; two decimals of a pixel are plenty). A non-zero amount gets >= 1 px.
  function barLength(amount, max, full) {
    const a = toBigIntStrict(amount);
    const m = toBigIntStrict(max);
    if (m <= 0n || a <= 0n) return 0;
    const hundredths = (a * BigInt(Math.round(full * 100))) / m;
    return Math.max(Number(hundredths) / 100, 1);
  }

  // JSON.parse that keeps integers beyond 2^53 exact (as BigInt) where the browser
  // gives revivers the source text (Chrome 114+); elsewhere they stay numbers.
  function parseJson(text) {
    return JSON.parse(text, function (key, value, context) {
      if (typeof value === 'number' && !Number.isSafeInteger(value) && context &&
          typeof context.source === 'string' && INTEGER_TEXT.test(context.source)) {
        return BigInt(context.source);
      }
      return value;
    });
  }
  // END format-functions

  const TOKEN_KEY = 'payouts.adminToken';
  const PAGE_SIZE = 20;
  const STATUSES = ['pending', 'processing', 'completed', 'failed', 'cancelled', 'reversed'];
  const STATUS_LABELS = {
    pending: 'Pending', processing: 'Processing', completed: 'Completed',
    failed: 'Failed', cancelled: 'Cancelled', reversed: 'Reversed',
  };
  const TYPE_LABELS = { scout_bounty: 'Scout bounty', seller_payout: 'Seller payout' };
  const TYPE_CARDS = [['scout_bounty', 'Scout bounties'], ['seller_payout', 'Seller payouts']];
  // The service's transition table, as far as the buttons go.
  const ACTIONS = {
    process: {
      label: 'Process', progress: 'Processing', from: ['pending'],
      path: (id) => 'payouts/process/' + encodeURIComponent(id),
      note: 'It is sent to the payment gateway and paid now.',
    },
    retry: {
      label: 'Retry', progress: 'Retrying', from: ['failed', 'reversed'],
      path: (id) => 'payouts/' + encodeURIComponent(id) + '/retry',
      note: 'A new attempt is sent to the payment gateway and paid now.',
    },
    cancel: {
      label: 'Cancel', progress: 'Cancelling', from: ['pending', 'failed', 'reversed'],
      path: (id) => 'payouts/' + encodeURIComponent(id) + '/cancel',
      note: 'Cancelling is final. A scout’s reserved earnings become available again.',
    },
  };
  const AUTH_MESSAGES = {
    401: 'That token is not valid or has expired.',
    403: "This token is not an admin's: the dashboard needs the admin role.",
  };
  // Relative to the page: "<base>/admin" -> "<base>/payouts/…"; "<base>/admin/" too.
  const API_ROOT = location.pathname.endsWith('/') ? '../' : '';

  const els = {};
  for (const id of ['message', 'session', 'refresh', 'sign-out', 'signin', 'signin-form', 'token',
    'signin-submit', 'app', 'stats-heading', 'as-of', 'stats-error', 'stats', 'chart',
    'list-heading', 'status-filter', 'page-label', 'row-count', 'payouts', 'rows', 'empty',
    'first-page', 'prev-page', 'next-page', 'detail', 'detail-heading', 'detail-close',
    'detail-fields', 'detail-attempts', 'detail-history', 'confirm', 'confirm-title', 'confirm-text',
    'confirm-note', 'confirm-keep', 'confirm-ok']) {
    els[id.replace(/-([a-z])/g, (m, c) => c.toUpperCase())] = document.getElementById(id);
  }

  const state = {
    token: null,
    filter: '',
    cursors: [null], // cursors[i] is the cursor of page i + 1
    pageIndex: 0,
    nextCursor: null,
    payouts: new Map(),
    listSeq: 0,
    listLoads: 0,
    statsSeq: 0,
    statsLoads: 0,
    busy: false,
    pendingAction: null,
    detail: null,
    detailOpener: null,
  };

  class ApiError extends Error {
    constructor(status, code, message) {
      super(message);
      this.status = status;
      this.code = code;
    }
  }

  // ---- DOM helpers -------------------------------------------------------

  function h(tag, attrs, ...children) {
    const node = document.createElement(tag);
    setAttrs(node, attrs);
    for (const child of children) {
      if (child !== null && child !== undefined && child !== false) node.append(child);
    }
    return node;
  }

  function svg(tag, attrs, ...children) {
    const node = document.createElementNS('http://www.w3.org/2000/svg', tag);
    setAttrs(node, attrs);
    for (const child of children) {
      if (child !== null && child !== undefined) node.append(child);
    }
    return node;
  }

  function setAttrs(node, attrs) {
    if (!attrs) return;
    for (const [key, value] of Object.entries(attrs)) {
      if (value === null || value === undefined || value === false) continue;
      if (key === 'style' || key.slice(0, 2).toLowerCase() === 'on') {
        throw new Error('refusing attribute ' + key);
      }
      if (key === 'text') node.textContent = String(value);
      else node.setAttribute(key, value === true ? '' : String(value));
    }
  }

  function dash() {
    return h('span', { class: 'none', 'aria-label': 'none', text: '—' });
  }

  function money(paise) {
    try {
      return formatPaise(paise);
    } catch (err) {
      return 'invalid amount';
    }
  }

  function count(n) {
    try {
      return formatCount(n);
    } catch (err) {
      return 'invalid';
    }
  }

  const dateTimeFormat = new Intl.DateTimeFormat(undefined, { dateStyle: 'medium', timeStyle: 'short' });
  const dateFormat = new Intl.DateTimeFormat(undefined, { dateStyle: 'medium' });
  const timeFormat = new Intl.DateTimeFormat(undefined, { timeStyle: 'short' });

  // <time datetime="ISO" title="ISO"> in the browser's locale; split: date and time on two lines.
  function timeEl(iso, attrs, split) {
    if (typeof iso !== 'string' || !iso) return dash();
    const date = new Date(iso);
    const node = h('time', Object.assign({ datetime: iso, title: iso }, attrs || {}));
    if (Number.isNaN(date.getTime())) node.textContent = iso;
    else if (split) {
      node.append(h('span', { class: 'date-part', text: dateFormat.format(date) }), ' ',
        h('span', { class: 'time-part', text: timeFormat.format(date) }));
    } else node.textContent = dateTimeFormat.format(date);
    return node;
  }

  function badge(status) {
    const known = STATUSES.includes(status);
    return h('span', { class: 'badge status-' + (known ? status : 'unknown'), text: String(status) });
  }

  // Why a pending payout waits (the API's `hold`): a change of account, until a time,
  // or the account's check with the bank.
  function holdNote(hold) {
    if (!hold || typeof hold !== 'object') return null;
    const reason = String(hold.reason);
    const note = (title, ...content) => h('span', { class: 'hold', 'data-hold-reason': reason, title: title }, ...content);
    if (reason === 'payout_account_changed') {
      return note('The user changed their payout account: their payouts wait until the hold ends.',
        'held until ', timeEl(hold.until));
    }
    if (reason === 'payout_account_unverified') {
      return note('The user\'s payout account is being verified with the bank.', 'awaiting account check');
    }
    return note('Waiting: ' + reason, 'held: ' + reason);
  }

  function plural(n, one, many) {
    return String(n) === '1' ? one : many;
  }

  function shortId(id) {
    return typeof id === 'string' && id.length > 13 ? id.slice(0, 8) + '…' : String(id);
  }

  function showMessage(text, kind) {
    const m = els.message;
    m.textContent = '';
    m.className = 'message ' + (kind || 'info');
    m.dataset.kind = kind || 'info';
    m.textContent = text;
  }

  function clearMessage() {
    els.message.textContent = '';
    els.message.className = 'message';
    delete els.message.dataset.kind;
  }

  // ---- API ---------------------------------------------------------------

  async function api(method, path) {
    if (!state.token) throw new ApiError(401, 'unauthorized', AUTH_MESSAGES[401]);
    let res;
    try {
      res = await fetch(API_ROOT + path, {
        method,
        headers: { Authorization: 'Bearer ' + state.token, Accept: 'application/json' },
        cache: 'no-store',
        credentials: 'same-origin',
        referrerPolicy: 'no-referrer',
      });
    } catch (err) {
      throw new ApiError(0, 'network', 'Could not reach the API. Check the connection and try again.');
    }
    const text = await res.text();
    let body = null;
    if (text) {
      try {
        body = parseJson(text);
      } catch (err) {
        body = null;
      }
    }
    if (!res.ok) {
      const e = body && typeof body === 'object' && body.error;
      if (e && typeof e.message === 'string') throw new ApiError(res.status, String(e.code), e.message);
      throw new ApiError(res.status, 'http_' + res.status,
        ('The API answered ' + res.status + ' ' + res.statusText).trim() + '.');
    }
    if (!body || typeof body !== 'object') {
      throw new ApiError(res.status, 'bad_response', 'The API sent an answer the dashboard cannot read.');
    }
    return body;
  }

  // 401/403 anywhere: forget the token and say why. True when handled.
  function handleAuthError(err) {
    if (err && (err.status === 401 || err.status === 403)) {
      signOut(AUTH_MESSAGES[err.status], 'error');
      return true;
    }
    return false;
  }

  // ---- Session -----------------------------------------------------------

  function readStoredToken() {
    try {
      return sessionStorage.getItem(TOKEN_KEY);
    } catch (err) {
      return null;
    }
  }

  function storeToken(token) {
    try {
      sessionStorage.setItem(TOKEN_KEY, token);
    } catch (err) {
      // Storage refused (private mode etc.): the token lives in memory only.
    }
  }

  function forgetToken() {
    state.token = null;
    try {
      sessionStorage.removeItem(TOKEN_KEY);
    } catch (err) {
      // nothing stored
    }
  }

  function setSignedIn(on) {
    els.signin.hidden = on;
    els.app.hidden = !on;
    els.session.hidden = !on;
  }

  function resetData() {
    state.listSeq++;
    state.statsSeq++;
    state.payouts = new Map();
    state.cursors = [null];
    state.pageIndex = 0;
    state.nextCursor = null;
    state.detail = null;
    state.busy = false;
    if (els.confirm.open) els.confirm.close('signed-out');
    els.rows.replaceChildren();
    els.stats.replaceChildren();
    els.chart.replaceChildren();
    els.asOf.textContent = '';
    els.statsError.hidden = true;
    els.detail.hidden = true;
    els.detailFields.replaceChildren();
    els.detailAttempts.replaceChildren();
    els.payouts.dataset.state = 'idle';
  }

  function signOut(message, kind) {
    forgetToken();
    resetData();
    setSignedIn(false);
    els.token.value = '';
    els.signinSubmit.disabled = false;
    if (message) showMessage(message, kind || 'info');
    els.token.focus();
  }

  async function startSession(token) {
    state.token = token;
    els.signinSubmit.disabled = true;
    showMessage('Signing in…', 'info');
    let stats = null;
    let statsError = null;
    const seq = ++state.statsSeq;
    try {
      stats = await api('GET', 'payouts/stats');
    } catch (err) {
      if (handleAuthError(err)) return;
      statsError = err; // the list below still tells whether the token works
    }
    if (state.token !== token) return;
    els.signinSubmit.disabled = false;
    els.token.value = '';
    setSignedIn(true);
    clearMessage();
    if (stats && seq === state.statsSeq) renderStats(stats);
    else if (statsError) renderStatsError(statsError);
    els.statsHeading.focus({ preventScroll: true });
    await loadList(0);
  }

  // ---- Stats -------------------------------------------------------------

  function getPath(obj, path) {
    let cur = obj;
    for (const key of path.split('.')) {
      if (cur === null || typeof cur !== 'object' || !Object.prototype.hasOwnProperty.call(cur, key)) {
        return undefined;
      }
      cur = cur[key];
    }
    return cur;
  }

  // One stat value: data-stat is its path in /payouts/stats, data-value the raw integer.
  function stat(stats, path, kind) {
    const value = getPath(stats, path);
    if (value === undefined || value === null || typeof value === 'object') {
      return h('span', { class: 'stat missing', title: 'Not in the API’s answer', text: '—' });
    }
    const text = kind === 'money' ? money(value) : count(value);
    return h('span', { class: 'stat ' + kind, 'data-stat': path, 'data-value': String(value), text });
  }

  function countLine(stats, path) {
    const value = getPath(stats, path);
    return h('p', { class: 'card-count' }, stat(stats, path, 'count'), ' ' + plural(value, 'payout', 'payouts'));
  }

  function amountCard(stats, title, base, extraClass) {
    return h('article', { class: 'card ' + (extraClass || '') },
      h('h3', { text: title }),
      h('p', { class: 'card-amount' }, stat(stats, base + '.amount_paise', 'money')),
      countLine(stats, base + '.count'));
  }

  function windowCard(stats, title, base) {
    const line = (label, key) => h('div', { class: 'pair' },
      h('dt', { text: label }),
      h('dd', null,
        stat(stats, base + '.' + key + '.amount_paise', 'money'),
        h('span', { class: 'muted' }, ' · ', stat(stats, base + '.' + key + '.count', 'count'),
          ' ' + plural(getPath(stats, base + '.' + key + '.count'), 'payout', 'payouts'))));
    return h('article', { class: 'card window' },
      h('h3', { text: title }),
      h('dl', { class: 'pairs' }, line('Completed', 'completed'), line('Failed', 'failed')));
  }

  function oldestPendingCard(stats) {
    const oldest = stats.oldest_pending;
    const card = h('article', { class: 'card' }, h('h3', { text: 'Oldest pending' }));
    if (oldest === null) {
      card.append(h('p', { class: 'card-amount', 'data-stat': 'oldest_pending', 'data-value': 'null', text: 'None' }),
        h('p', { class: 'card-count', text: 'Nothing is waiting.' }));
      return card;
    }
    if (!oldest || typeof oldest !== 'object') {
      card.append(h('p', { class: 'card-amount missing', text: '—' }));
      return card;
    }
    card.append(
      h('p', { class: 'card-amount' },
        h('span', {
          class: 'stat', 'data-stat': 'oldest_pending.age_seconds', 'data-value': String(oldest.age_seconds),
          text: formatAge(oldest.age_seconds),
        }),
        ' old'),
      h('p', { class: 'card-count' }, 'since ',
        timeEl(oldest.created_at, { 'data-stat': 'oldest_pending.created_at', 'data-value': String(oldest.created_at) })),
      h('p', { class: 'card-count mono' }, h('span', {
        'data-stat': 'oldest_pending.payout_id', 'data-value': String(oldest.payout_id),
        title: String(oldest.payout_id), text: shortId(oldest.payout_id),
      })));
    return card;
  }

  function renderStats(stats) {
    const cards = [amountCard(stats, 'All payouts', 'total', 'total')];
    for (const s of STATUSES) cards.push(amountCard(stats, STATUS_LABELS[s], 'by_status.' + s, 'accent-' + s));
    for (const [t, title] of TYPE_CARDS) cards.push(amountCard(stats, title, 'by_type.' + t, 'type'));
    cards.push(oldestPendingCard(stats));
    cards.push(windowCard(stats, 'Last 24 hours', 'last_24h'));
    cards.push(windowCard(stats, 'Last 7 days', 'last_7d'));
    els.stats.replaceChildren(...cards);
    els.asOf.replaceChildren();
    if (typeof stats.as_of === 'string') els.asOf.append('as of ', timeEl(stats.as_of));
    els.statsError.hidden = true;
    renderChart(stats);
    els.stats.dataset.loads = String(++state.statsLoads);
  }

  function renderStatsError(err) {
    els.statsError.textContent = 'Could not load the stats: ' + err.message;
    els.statsError.hidden = false;
  }

  async function loadStats() {
    if (!state.token) return;
    const seq = ++state.statsSeq;
    try {
      const stats = await api('GET', 'payouts/stats');
      if (seq === state.statsSeq) renderStats(stats);
    } catch (err) {
      if (seq !== state.statsSeq) return;
      if (!handleAuthError(err)) renderStatsError(err);
    }
  }

  // ---- Chart (inline SVG, horizontal bars) --------------------------------

  function renderChart(stats) {
    const W = 400;
    const ROW = 46;
    const BAR = 14;
    const rows = STATUSES.map((s) => {
      const amount = getPath(stats, 'by_status.' + s + '.amount_paise');
      const n = getPath(stats, 'by_status.' + s + '.count');
      let big = 0n;
      try {
        big = toBigIntStrict(amount);
      } catch (err) {
        big = 0n;
      }
      return { s, amount, big, n };
    });
    const max = rows.reduce((m, r) => (r.big > m ? r.big : m), 0n);
    const label = 'Amount by status: ' + rows.map((r) => STATUS_LABELS[r.s] + ' ' + money(r.amount)).join(', ');
    const chart = svg('svg', {
      viewBox: '0 0 ' + W + ' ' + (rows.length * ROW), role: 'img', 'aria-label': label,
      class: 'bars', preserveAspectRatio: 'xMinYMin meet',
    });
    rows.forEach((r, i) => {
      const y = i * ROW;
      const len = barLength(r.big, max, W);
      const what = STATUS_LABELS[r.s] + ': ' + money(r.amount) + ' in ' + count(r.n) + ' ' + plural(r.n, 'payout', 'payouts');
      chart.append(svg('g', { class: 'bar-row', 'data-status': r.s },
        svg('title', null, what),
        svg('text', { x: 0, y: y + 16, class: 'bar-label' }, STATUS_LABELS[r.s] + ' · ' + count(r.n)),
        svg('text', { x: W, y: y + 16, class: 'bar-value', 'text-anchor': 'end' }, money(r.amount)),
        svg('rect', { x: 0, y: y + 24, width: W, height: BAR, rx: 3, class: 'bar-track' }),
        svg('rect', { x: 0, y: y + 24, width: String(Math.round(len * 100) / 100), height: BAR, rx: 3, class: 'bar bar-' + r.s })));
    });
    els.chart.replaceChildren(chart);
  }

  // ---- List ----------------------------------------------------------------

  const COLUMNS = ['Payout', 'Amount (₹)', 'Type', 'User', 'Status', 'Attempt', 'Failure reason',
    'Created', 'Updated', 'Actions'];

  function allowedActions(status) {
    return Object.keys(ACTIONS).filter((name) => ACTIONS[name].from.includes(status));
  }

  function buildRow(p) {
    const id = String(p.payout_id);
    const tr = h('tr', { 'data-payout-id': id, 'data-status': String(p.status) });
    // One wrapper per cell, so the narrow layout's label + value grid has two items.
    const cell = (i, field, cls, ...content) => h('td',
      { 'data-label': COLUMNS[i], 'data-field': field, class: cls || null },
      h('div', { class: 'cell' }, ...content));
    const idButton = h('button', {
      type: 'button', class: 'link mono', 'data-open-detail': id, title: id,
      'aria-label': 'Details of payout ' + id, text: shortId(id),
    });
    const actions = allowedActions(p.status).map((name) => h('button', {
      type: 'button', class: 'action action-' + name, 'data-action': name, 'data-payout-id': id,
      'aria-label': ACTIONS[name].label + ' payout ' + shortId(id), disabled: state.busy,
      text: ACTIONS[name].label,
    }));
    tr.append(
      cell(0, 'payout_id', null, idButton),
      cell(1, 'amount_paise', 'num', money(p.amount_paise)),
      cell(2, 'payout_type', null, TYPE_LABELS[p.payout_type] || String(p.payout_type)),
      cell(3, 'user_id', 'num', String(p.user_id)),
      cell(4, 'status', null, badge(p.status), holdNote(p.hold)),
      cell(5, 'attempt', 'num', String(p.attempt)),
      cell(6, 'failure_reason', 'reason', p.failure_reason ? String(p.failure_reason) : dash()),
      cell(7, 'created_at', 'date', timeEl(p.created_at, null, true)),
      cell(8, 'updated_at', 'date', timeEl(p.updated_at, null, true)),
      cell(9, 'actions', 'actions', ...(actions.length ? actions : [dash()])));
    return tr;
  }

  function renderRows(payouts) {
    state.payouts = new Map();
    const rows = [];
    for (const p of payouts) {
      if (!p || typeof p !== 'object') continue;
      state.payouts.set(String(p.payout_id), p);
      rows.push(buildRow(p));
    }
    els.rows.replaceChildren(...rows);
    els.empty.hidden = rows.length > 0;
    els.rowCount.textContent = rows.length ? '· ' + rows.length + ' ' + plural(rows.length, 'payout', 'payouts') : '';
  }

  function rowOf(id) {
    return els.rows.querySelector('tr[data-payout-id="' + CSS.escape(id) + '"]');
  }

  function updatePager() {
    els.pageLabel.textContent = 'Page ' + (state.pageIndex + 1);
    els.firstPage.disabled = state.pageIndex === 0;
    els.prevPage.disabled = state.pageIndex === 0;
    els.nextPage.disabled = !state.nextCursor;
    els.payouts.dataset.page = String(state.pageIndex + 1);
    els.payouts.dataset.filter = state.filter;
    els.payouts.dataset.limit = String(PAGE_SIZE);
  }

  async function loadList(index) {
    if (!state.token) return;
    const seq = ++state.listSeq;
    const cursor = state.cursors[index] || null;
    const params = new URLSearchParams({ limit: String(PAGE_SIZE) });
    if (state.filter) params.set('status', state.filter);
    if (cursor) params.set('cursor', cursor);
    els.payouts.dataset.state = 'loading';
    els.payouts.setAttribute('aria-busy', 'true');
    els.firstPage.disabled = true;
    els.prevPage.disabled = true;
    els.nextPage.disabled = true;
    try {
      const body = await api('GET', 'payouts?' + params.toString());
      if (seq !== state.listSeq) return;
      if (!Array.isArray(body.payouts)) {
        throw new ApiError(200, 'bad_response', 'The API sent a list the dashboard cannot read.');
      }
      state.pageIndex = index;
      state.cursors.length = index + 1;
      state.nextCursor = typeof body.next_cursor === 'string' && body.next_cursor ? body.next_cursor : null;
      renderRows(body.payouts);
      els.payouts.dataset.state = 'ready';
    } catch (err) {
      if (seq !== state.listSeq) return;
      if (handleAuthError(err)) return;
      els.payouts.dataset.state = 'error';
      showMessage('Could not load the payouts: ' + err.message, 'error');
    } finally {
      if (seq === state.listSeq && state.token) {
        els.payouts.removeAttribute('aria-busy');
        updatePager();
        els.payouts.dataset.loads = String(++state.listLoads);
      }
    }
  }

  // ---- Actions -------------------------------------------------------------

  function setBusy(on, id) {
    state.busy = on;
    for (const b of els.rows.querySelectorAll('button[data-action]')) b.disabled = on;
    els.confirmOk.disabled = on;
    const row = id ? rowOf(id) : null;
    if (row) {
      if (on) row.setAttribute('aria-busy', 'true');
      else row.removeAttribute('aria-busy');
    }
  }

  function openConfirm(name, id, opener) {
    const p = state.payouts.get(id);
    const action = ACTIONS[name];
    if (!p || !action || state.busy || els.confirm.open) return;
    state.pendingAction = { name, id, opener };
    els.confirmTitle.textContent = action.label + ' payout';
    els.confirmText.textContent = action.label + ' payout ' + id + ' of ' + money(p.amount_paise) +
      ' to user ' + p.user_id + '?';
    els.confirmNote.textContent = action.note;
    els.confirmOk.textContent = 'Confirm';
    els.confirmOk.disabled = false;
    els.confirm.returnValue = '';
    els.confirm.showModal();
    els.confirmKeep.focus();
  }

  function focusRow(id, fallback) {
    const row = rowOf(id);
    const target = (row && (row.querySelector('button[data-action]') || row.querySelector('button.link'))) ||
      (fallback && fallback.isConnected ? fallback : null) || els.listHeading;
    target.focus();
  }

  async function runAction({ name, id, opener }) {
    const action = ACTIONS[name];
    setBusy(true, id);
    showMessage(action.progress + ' payout ' + id + '…', 'info');
    let reload = false;
    try {
      const updated = await api('POST', action.path(id));
      if (!updated || typeof updated.payout_id !== 'string' || typeof updated.status !== 'string') {
        throw new ApiError(200, 'bad_response', 'The API sent an answer the dashboard cannot read.');
      }
      const key = String(updated.payout_id);
      state.payouts.set(key, updated);
      const old = rowOf(key);
      if (old) old.replaceWith(buildRow(updated));
      if (state.detail && state.detail.payout_id === key) renderDetail(updated);
      showMessage('Payout ' + key + ' is now ' + updated.status + '.', 'success');
    } catch (err) {
      if (handleAuthError(err)) return;
      showMessage(err.message, 'error');
      // The gateway had paid it: the payout is completed now, show that.
      reload = err.code === 'already_paid';
    } finally {
      if (state.token) {
        setBusy(false, id);
        focusRow(id, opener);
        loadStats();
        if (reload) loadList(state.pageIndex);
      }
    }
  }

  // ---- Detail ----------------------------------------------------------------

  const DETAIL_FIELDS = [
    ['payout_id', 'Payout id', 'mono'],
    ['status', 'Status', 'status'],
    ['amount_paise', 'Amount', 'money'],
    ['payout_type', 'Type', 'type'],
    ['user_id', 'User', 'text'],
    ['scout_id', 'Scout', 'text'],
    ['order_id', 'Order', 'text'],
    ['attempt', 'Attempt', 'text'],
    ['attempt_sent_at', 'Attempt sent at', 'date'],
    ['gateway_payout_id', 'Gateway payout id', 'mono'],
    ['gateway_status', 'Gateway status', 'text'],
    ['gateway_status_details', 'Gateway status details', 'object'],
    ['payment_reference', 'Payment reference', 'mono'],
    ['failure_reason', 'Failure reason', 'text'],
    ['last_error', 'Last error', 'text'],
    ['processed_at', 'Processed at', 'date'],
    ['completed_at', 'Completed at', 'date'],
    ['cancelled_at', 'Cancelled at', 'date'],
    ['lease_expires_at', 'Lease expires at', 'date'],
    ['created_at', 'Created at', 'date'],
    ['updated_at', 'Updated at', 'date'],
  ];

  function detailValue(value, kind) {
    if (value === null || value === undefined || value === '') return dash();
    switch (kind) {
      case 'money':
        return h('span', null, money(value), h('span', { class: 'muted', text: ' (' + String(value) + ' paise)' }));
      case 'date':
        return timeEl(value);
      case 'status':
        return badge(value);
      case 'type':
        return TYPE_LABELS[value] || String(value);
      case 'mono':
        return h('span', { class: 'mono', text: String(value) });
      case 'object':
        if (typeof value !== 'object') return String(value);
        return h('ul', { class: 'plain' }, ...Object.keys(value).map((k) =>
          h('li', null, h('span', { class: 'muted', text: k + ': ' }), String(value[k]))));
      default:
        return typeof value === 'object' ? JSON.stringify(value, (k, v) => (typeof v === 'bigint' ? v.toString() : v))
          : String(value);
    }
  }

  function renderDetail(p) {
    state.detail = p;
    els.detailHeading.textContent = 'Payout ' + shortId(p.payout_id);
    els.detail.dataset.payoutId = String(p.payout_id);
    const known = new Set(DETAIL_FIELDS.map((f) => f[0]).concat(['earlier_attempts', 'history']));
    const fields = DETAIL_FIELDS.map(([key, label, kind]) => [key, label, kind]);
    for (const key of Object.keys(p)) if (!known.has(key)) fields.push([key, key, 'text']);
    els.detailFields.replaceChildren(...fields.map(([key, label, kind]) =>
      h('div', { class: 'field', 'data-field': key }, h('dt', { text: label }), h('dd', null, detailValue(p[key], kind)))));

    const items = [];
    const earlier = Array.isArray(p.earlier_attempts) ? p.earlier_attempts : null;
    if (earlier) {
      for (const a of earlier) {
        if (!a || typeof a !== 'object') continue;
        items.push(h('li', { 'data-attempt': String(a.attempt), class: 'attempt' },
          h('span', { class: 'attempt-no', text: 'Attempt ' + a.attempt }), ' ',
          badge(a.ended), ' ',
          a.gateway_payout_id
            ? h('span', { class: 'muted' }, 'gateway id ', h('span', { class: 'mono', text: String(a.gateway_payout_id) }))
            : h('span', { class: 'muted', text: 'no gateway id' })));
      }
    } else if (Number(p.attempt) > 1) {
      items.push(h('li', { class: 'attempt muted', text: 'Attempts 1 to ' + (Number(p.attempt) - 1) +
        ': not in the API’s answer.' }));
    }
    items.push(h('li', { 'data-attempt': String(p.attempt), class: 'attempt current' },
      h('span', { class: 'attempt-no', text: 'Attempt ' + p.attempt + ' (current)' }), ' ',
      badge(p.status), ' ',
      p.attempt_sent_at
        ? h('span', { class: 'muted' }, 'sent ', timeEl(p.attempt_sent_at))
        : h('span', { class: 'muted', text: 'not sent yet' }),
      p.gateway_payout_id
        ? h('span', { class: 'muted' }, ' · gateway id ', h('span', { class: 'mono', text: String(p.gateway_payout_id) }))
        : null));
    els.detailAttempts.replaceChildren(...items);
    renderHistory(p.history);
  }

  const HISTORY_ACTIONS = { process: 'Process', retry: 'Retry', cancel: 'Cancel' };

  // Who changed the payout on an admin's request, oldest first, as the API keeps it.
  function renderHistory(history) {
    if (!Array.isArray(history)) {
      els.detailHistory.replaceChildren(h('li', { class: 'attempt muted', text: 'Not in the API’s answer.' }));
      return;
    }
    const items = [];
    history.forEach((e, index) => {
      if (!e || typeof e !== 'object') return;
      const action = HISTORY_ACTIONS[e.action] || String(e.action);
      items.push(h('li', { class: 'attempt', 'data-history': String(index), 'data-actor': String(e.actor_user_id) },
        timeEl(e.at), ' ',
        h('span', { class: 'attempt-no', text: action }), ' by admin ',
        h('span', { class: 'mono', text: String(e.actor_user_id) }), ': ',
        badge(e.from_status), ' → ', badge(e.to_status),
        e.bulk_request_id
          ? h('span', { class: 'muted' }, ' · bulk ',
            h('span', { class: 'mono', title: String(e.bulk_request_id), text: shortId(String(e.bulk_request_id)) }),
            e.bulk_idempotency_key ? ' (key ' + String(e.bulk_idempotency_key) + ')' : '')
          : null));
    });
    if (!items.length) items.push(h('li', { class: 'attempt muted', text: 'No admin has acted on this payout.' }));
    els.detailHistory.replaceChildren(...items);
  }

  function openDetail(id, opener) {
    const p = state.payouts.get(id);
    if (!p) return;
    state.detailOpener = opener || null;
    renderDetail(p);
    els.detail.hidden = false;
    els.detailHeading.focus();
  }

  function closeDetail() {
    if (els.detail.hidden) return;
    const id = state.detail ? String(state.detail.payout_id) : null;
    els.detail.hidden = true;
    state.detail = null;
    const opener = state.detailOpener;
    state.detailOpener = null;
    const row = id ? rowOf(id) : null;
    const target = (opener && opener.isConnected ? opener : null) ||
      (row && row.querySelector('button.link')) || els.listHeading;
    target.focus();
  }

  // ---- Events ----------------------------------------------------------------

  els.signinForm.addEventListener('submit', (event) => {
    event.preventDefault();
    let token = els.token.value.trim().replace(/^Bearer\s+/i, '');
    if (!token) {
      showMessage('Paste an admin token first.', 'error');
      els.token.focus();
      return;
    }
    if (/[^\x21-\x7e]/.test(token)) {
      showMessage('A token is one line of letters, digits and punctuation, without spaces.', 'error');
      els.token.focus();
      return;
    }
    storeToken(token);
    startSession(token);
  });

  els.signOut.addEventListener('click', () => signOut('Signed out.', 'info'));

  els.refresh.addEventListener('click', () => {
    clearMessage();
    loadStats();
    loadList(state.pageIndex);
  });

  els.statusFilter.addEventListener('change', () => {
    state.filter = els.statusFilter.value;
    state.cursors = [null];
    state.nextCursor = null;
    loadList(0);
  });

  els.firstPage.addEventListener('click', () => loadList(0));
  els.prevPage.addEventListener('click', () => {
    if (state.pageIndex > 0) loadList(state.pageIndex - 1);
  });
  els.nextPage.addEventListener('click', () => {
    if (!state.nextCursor) return;
    state.cursors[state.pageIndex + 1] = state.nextCursor;
    loadList(state.pageIndex + 1);
  });

  els.rows.addEventListener('click', (event) => {
    const target = event.target instanceof Element ? event.target.closest('button') : null;
    if (!target || target.disabled) return;
    if (target.dataset.action) openConfirm(target.dataset.action, target.dataset.payoutId, target);
    else if (target.dataset.openDetail) openDetail(target.dataset.openDetail, target);
  });

  els.confirmKeep.addEventListener('click', () => els.confirm.close('keep'));
  els.confirmOk.addEventListener('click', () => {
    const pending = state.pendingAction;
    state.pendingAction = null;
    els.confirm.close('confirm');
    if (pending) runAction(pending);
  });
  els.confirm.addEventListener('close', () => {
    if (els.confirm.returnValue === 'confirm') return;
    const pending = state.pendingAction;
    state.pendingAction = null;
    if (pending && pending.opener && pending.opener.isConnected) pending.opener.focus();
  });

  els.detailClose.addEventListener('click', closeDetail);

  document.addEventListener('keydown', (event) => {
    if (event.key !== 'Escape' || els.confirm.open || els.detail.hidden) return;
    event.preventDefault();
    closeDetail();
  });

  // ---- Start ---------------------------------------------------------------

  els.statusFilter.value = '';
  const stored = readStoredToken();
  if (stored) {
    startSession(stored);
  } else {
    setSignedIn(false);
  }
})();
