// Building elements without innerHTML, and the small pieces every view uses: money,
// counts, times, status badges, holds and the message line.

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
