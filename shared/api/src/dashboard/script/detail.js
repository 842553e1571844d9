// One payout in full: its fields, earlier attempts and admin history.

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

// Fields a payout may carry beyond the list's (a reconciliation finding's record of it).
const EXTRA_FIELDS = {
  first_sent_at: ['First sent at', 'date'],
  gateway_fund_account_id: ['Gateway fund account', 'mono'],
};

// `note`, when given, says where the payout shown comes from if not from the list.
function renderDetail(p, note) {
  state.detail = p;
  els.detailHeading.textContent = 'Payout ' + shortId(p.payout_id);
  els.detail.dataset.payoutId = String(p.payout_id);
  els.detail.dataset.source = note ? 'reconciliation' : 'list';
  els.detailNote.textContent = note || '';
  els.detailNote.hidden = !note;
  const known = new Set(DETAIL_FIELDS.map((f) => f[0]).concat(['earlier_attempts', 'history']));
  // A record from elsewhere shows what it holds; the list's payout, every field.
  const fields = DETAIL_FIELDS.filter(([key]) => !note || p[key] !== undefined)
    .map(([key, label, kind]) => [key, label, kind]);
  for (const key of Object.keys(p)) {
    if (!known.has(key)) fields.push([key].concat(EXTRA_FIELDS[key] || [key, 'text']));
  }
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
  if (note && !Array.isArray(p.history)) {
    els.detailHistory.replaceChildren(h('li', { class: 'attempt muted', text: 'In the payout’s row of the list.' }));
  } else renderHistory(p.history);
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
  showDetail(p, opener, null);
}

function showDetail(p, opener, note) {
  state.detailOpener = opener || null;
  renderDetail(p, note);
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
