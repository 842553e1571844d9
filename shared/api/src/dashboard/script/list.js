// The payouts table: a page at a time, filtered by status, with each row's actions.

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
