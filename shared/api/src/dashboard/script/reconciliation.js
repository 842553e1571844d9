// The daily reconciliation of one day (GET admin/reconciliation): when it ran, both
// sides' totals, what matched, the findings by kind, and the findings a page at a
// time, each linked to its payout's detail; and the day's findings as a CSV file,
// fetched with the token and saved from a Blob (a plain link would carry no token).

const DAY_TEXT = /^\d{4}-\d{2}-\d{2}$/;

// replaceChildren without the absent ones (which it would write as "null").
function fill(node, ...children) {
  node.replaceChildren(...children.filter((child) => child !== null && child !== undefined && child !== false));
}

function reconCount(n, path) {
  return h('span', { class: 'count', 'data-recon': path, 'data-value': String(n), text: count(n) });
}

// One total of one side: data-recon is its path in the report, data-value the raw integer.
function reconTotal(side, key, isMoney) {
  const value = getPath(side, key);
  if (value === undefined || value === null || typeof value === 'object') return dash();
  return h('span', { text: isMoney ? money(value) : count(value) });
}

function renderReport(report) {
  const ours = report.ours && typeof report.ours === 'object' ? report.ours : {};
  const theirs = report.theirs && typeof report.theirs === 'object' ? report.theirs : {};
  els.reconDay.textContent = String(report.date) + ' · ' + String(report.time_zone) + ' · ' +
    String(report.gateway) + ' gateway';
  if (DAY_TEXT.test(String(report.date))) els.reconDate.value = String(report.date);

  const runs = Number(report.runs);
  fill(els.reconRuns, 'Last run ',
    h('strong', null, timeEl(report.last_run_at, { 'data-recon': 'last_run_at', 'data-value': String(report.last_run_at) })),
    ' · ', h('span', { 'data-recon': 'runs', 'data-value': String(report.runs), text: count(report.runs) }),
    ' ' + plural(report.runs, 'run', 'runs'),
    runs > 1 ? h('span', null, ', the first ', timeEl(report.first_run_at)) : null,
    h('span', null, ' · window ', timeEl(report.window_from), ' to ', timeEl(report.window_to)));

  els.reconTotalsRows.replaceChildren(...RECON_TOTALS.map(([key, label, isMoney]) => {
    const differs = String(ours[key]) !== String(theirs[key]);
    const cell = (side, name) => h('td', {
      class: 'num', 'data-recon': name + '.' + key, 'data-value': String(side[key]),
    }, reconTotal(side, key, isMoney));
    return h('tr', { class: differs ? 'differs' : null, 'data-total': key },
      h('th', { scope: 'row' }, label,
        differs ? h('span', { class: 'differs-mark', title: 'The two sides differ', text: '≠ differs' }) : null),
      cell(ours, 'ours'), cell(theirs, 'theirs'));
  }));

  const matched = report.matched && typeof report.matched === 'object' ? Object.entries(report.matched) : [];
  els.reconMatched.replaceChildren(...(matched.length
    ? matched.map(([status, n]) => h('li', null, badge(status), reconCount(n, 'matched.' + status)))
    : [h('li', { class: 'none', text: 'None' })]));

  const kinds = report.findings && typeof report.findings === 'object' ? Object.entries(report.findings) : [];
  els.reconKinds.replaceChildren(...(kinds.length
    ? kinds.map(([kind, n]) => h('li', { 'data-kind': kind },
      h('span', { text: FINDING_KINDS[kind] || kind }), reconCount(n, 'findings.' + kind)))
    : [h('li', { class: 'none', text: 'None: the two sides agree.' })]));
  const left = Number(report.left_for_person) > 0;
  els.reconKindsBox.classList.toggle('attention', left);
  els.reconKindsBox.dataset.attention = String(left);
  fill(els.reconActions,
    h('span', null, 'Repaired ', reconCount(report.repaired, 'repaired')), ' · ',
    h('span', { class: left ? 'left-count' : null }, 'Left for a person ',
      reconCount(report.left_for_person, 'left_for_person')),
    left ? h('span', { class: 'visually-hidden', text: ' (a person must look at these)' }) : null);
}

function findingsTotal() {
  const report = state.recon.report;
  if (!report || !report.findings || typeof report.findings !== 'object') return null;
  let total = 0n;
  try {
    for (const n of Object.values(report.findings)) total += toBigIntStrict(n);
  } catch (err) {
    return null;
  }
  return total;
}

const FINDING_COLUMNS = ['Kind', 'Action', 'Payout', 'Ours, as found', 'Gateway', 'Detail', 'Found'];

function findingRow(f, index) {
  const kind = String(f.kind);
  const action = String(f.action);
  const tr = h('tr', {
    'data-finding': String(index), 'data-kind': kind, 'data-action': action,
    'data-payout-id': f.payout_id ? String(f.payout_id) : null,
    class: action === 'left_for_person' ? 'left-for-person' : null,
  });
  const cell = (i, field, ...content) => h('td', {
    'data-label': FINDING_COLUMNS[i], 'data-field': field, class: field === 'found_at' ? 'date' : null,
  }, h('div', { class: 'cell' }, ...content));
  const theirs = Array.isArray(f.theirs) ? f.theirs.filter((t) => t && typeof t === 'object') : [];
  const ours = f.ours && typeof f.ours === 'object' ? f.ours : null;

  let payout;
  if (f.payout_id) {
    const id = String(f.payout_id);
    payout = h('button', {
      type: 'button', class: 'link mono', 'data-open-finding': String(index), title: id,
      'aria-label': 'Details of payout ' + id, text: shortId(id),
    });
  } else if (theirs.length) {
    payout = h('span', null, ...theirs.map((t) => h('span', {
      class: 'side mono', 'data-gateway-payout-id': String(t.gateway_payout_id), title: 'Gateway payout id',
      text: String(t.gateway_payout_id),
    })), h('span', { class: 'side muted', text: 'at the gateway' }));
  } else {
    payout = h('span', { class: 'mono', text: String(f.subject) });
  }

  const oursCell = ours
    ? h('span', { class: 'side', 'data-amount': String(ours.amount_paise) }, badge(ours.status), ' ',
      h('span', { class: 'amount', text: money(ours.amount_paise) }),
      h('span', { class: 'side muted', text: 'attempt ' + String(ours.attempt) }))
    : h('span', { class: 'muted', text: 'no payout of ours' });
  const theirsCell = theirs.length
    ? theirs.map((t) => h('span', { class: 'side', 'data-amount': t.amount_paise == null ? '' : String(t.amount_paise) },
      h('span', { class: 'gw-status', text: String(t.status) }), ' ',
      t.amount_paise == null ? dash() : h('span', { class: 'amount', text: money(t.amount_paise) })))
    : [h('span', { class: 'muted', text: 'nothing at the gateway' })];

  tr.append(
    cell(0, 'kind', h('span', { text: FINDING_KINDS[kind] || kind }), h('span', { class: 'kind-code mono', text: kind })),
    cell(1, 'action', h('span', { class: 'action-badge action-' + (FINDING_ACTIONS[action] ? action : 'unknown'),
      text: FINDING_ACTIONS[action] || action }),
    f.transition ? h('span', { class: 'transition', text: 'by ' + String(f.transition) }) : null),
    cell(2, 'subject', payout),
    cell(3, 'ours', oursCell),
    cell(4, 'theirs', ...theirsCell),
    cell(5, 'detail', String(f.detail)),
    cell(6, 'found_at', timeEl(f.found_at, null, true)));
  return tr;
}

function appendFindings(findings) {
  const r = state.recon;
  const rows = [];
  for (const f of findings) {
    if (!f || typeof f !== 'object') continue;
    r.findings.push(f);
    rows.push(findingRow(f, r.findings.length - 1));
  }
  els.findingsRows.append(...rows);
  return rows;
}

function updateReconControls() {
  const r = state.recon;
  els.reconCsv.disabled = !r.report || r.downloading;
  els.reconCsv.textContent = r.downloading ? 'Downloading…' : 'Download CSV';
  els.findingsMore.hidden = !r.nextCursor;
  els.findingsEmpty.hidden = !r.report || r.findings.length > 0;
  const total = findingsTotal();
  els.findingsCount.textContent = r.report && r.findings.length
    ? 'Showing ' + count(r.findings.length) + (total === null ? '' : ' of ' + count(total)) + ' ' +
      plural(total === null ? r.findings.length : total, 'finding', 'findings')
    : '';
}

function resetRecon() {
  const r = state.recon;
  r.seq++;
  r.date = null;
  r.report = null;
  r.findings = [];
  r.nextCursor = null;
  r.downloading = false;
  els.reconReport.hidden = true;
  els.reconNone.hidden = true;
  els.reconError.hidden = true;
  els.reconDay.textContent = '';
  els.reconDate.value = '';
  els.findingsRows.replaceChildren();
  els.recon.dataset.state = 'idle';
  updateReconControls();
}

// A day's report and its first page of findings; `date` null asks for the API's
// default day (yesterday in the operator's zone).
async function loadRecon(date) {
  if (!state.token) return;
  const r = state.recon;
  const seq = ++r.seq;
  r.date = date || null;
  const params = new URLSearchParams({ limit: String(FINDINGS_PAGE_SIZE) });
  if (r.date) params.set('date', r.date);
  els.recon.dataset.state = 'loading';
  els.recon.setAttribute('aria-busy', 'true');
  els.reconError.hidden = true;
  try {
    const body = await api('GET', 'admin/reconciliation?' + params.toString());
    if (seq !== r.seq) return;
    if (!body.report || typeof body.report !== 'object' || !Array.isArray(body.findings)) {
      throw new ApiError(200, 'bad_response', 'The API sent a report the dashboard cannot read.');
    }
    r.report = body.report;
    r.findings = [];
    r.nextCursor = typeof body.next_cursor === 'string' && body.next_cursor ? body.next_cursor : null;
    renderReport(body.report);
    els.findingsRows.replaceChildren();
    appendFindings(body.findings);
    els.reconNone.hidden = true;
    els.reconReport.hidden = false;
    els.recon.dataset.state = 'ready';
  } catch (err) {
    if (seq !== r.seq) return;
    if (handleAuthError(err)) return;
    r.report = null;
    r.findings = [];
    r.nextCursor = null;
    els.reconReport.hidden = true;
    els.findingsRows.replaceChildren();
    if (err.status === 404 && err.code === 'not_found') {
      // The API's message names the day it looked at (the default one too).
      const named = /\b(\d{4}-\d{2}-\d{2})\b/.exec(err.message);
      const day = r.date || (named ? named[1] : 'that day');
      els.reconDay.textContent = day;
      if (DAY_TEXT.test(day)) els.reconDate.value = day;
      els.reconNone.textContent = 'No reconciliation has run for ' + day + ' yet.';
      els.reconNone.hidden = false;
      els.recon.dataset.state = 'none';
    } else {
      els.reconNone.hidden = true;
      els.reconError.textContent = 'Could not load the reconciliation: ' + err.message;
      els.reconError.hidden = false;
      els.recon.dataset.state = 'error';
    }
  } finally {
    if (seq === r.seq && state.token) {
      els.recon.removeAttribute('aria-busy');
      updateReconControls();
      els.recon.dataset.loads = String(++r.loads);
    }
  }
}

async function loadMoreFindings() {
  const r = state.recon;
  if (!r.report || !r.nextCursor || !state.token) return;
  const seq = r.seq;
  // Another day asked for meanwhile keeps its own seq only once it has loaded: the
  // report this page continues is the one that must still be shown.
  const report = r.report;
  const cursor = r.nextCursor;
  const params = new URLSearchParams({
    date: String(report.date), limit: String(FINDINGS_PAGE_SIZE), cursor,
  });
  els.findingsMore.disabled = true;
  els.reconError.hidden = true;
  let added = [];
  try {
    const body = await api('GET', 'admin/reconciliation?' + params.toString());
    if (seq !== r.seq || r.report !== report) return;
    if (!Array.isArray(body.findings)) {
      throw new ApiError(200, 'bad_response', 'The API sent findings the dashboard cannot read.');
    }
    added = appendFindings(body.findings);
    // A cursor that does not move would show the same page again and again: the end.
    const next = typeof body.next_cursor === 'string' && body.next_cursor ? body.next_cursor : null;
    r.nextCursor = next === cursor ? null : next;
  } catch (err) {
    if (seq !== r.seq || r.report !== report) return;
    if (handleAuthError(err)) return;
    els.reconError.textContent = 'Could not load more findings: ' + err.message;
    els.reconError.hidden = false;
  } finally {
    if (seq === r.seq && state.token) {
      els.findingsMore.disabled = false;
      updateReconControls();
      els.recon.dataset.loads = String(++r.loads);
      // The button is gone at the end: keep the keyboard where the new rows are.
      if (els.findingsMore.hidden && document.activeElement === document.body) {
        const link = added.length ? added[0].querySelector('button.link') : null;
        (link || els.findingsCount).focus();
      }
    }
  }
}

// A finding's payout: its detail as the list has it when it is on the list's page,
// otherwise as the run recorded it (no route reads one payout by id), and said so.
function openFinding(index, opener) {
  const f = state.recon.findings[index];
  if (!f || !f.payout_id) return;
  const id = String(f.payout_id);
  if (state.payouts.has(id)) {
    openDetail(id, opener);
    return;
  }
  const ours = f.ours && typeof f.ours === 'object' ? f.ours : {};
  const p = {
    payout_id: id,
    status: ours.status,
    amount_paise: ours.amount_paise,
    user_id: ours.user_id,
    attempt: ours.attempt,
    first_sent_at: ours.first_sent_at,
    gateway_payout_id: ours.gateway_payout_id,
    payment_reference: ours.utr,
    gateway_fund_account_id: ours.gateway_fund_account_id,
  };
  const found = typeof f.found_at === 'string' ? dateTimeFormat.format(new Date(f.found_at)) : 'its run';
  showDetail(p, opener, 'As the reconciliation of ' + String(state.recon.report.date) + ' recorded it (' +
    (FINDING_KINDS[f.kind] || String(f.kind)).toLowerCase() + ', found ' + found + '). It is not on the ' +
    'page of the list shown now: its current status, attempts and admin actions are in its row there.');
}

// Content-Disposition's filename, if it is a plain one.
function attachmentName(disposition) {
  const m = /filename="([A-Za-z0-9._-]+)"/.exec(disposition || '');
  return m ? m[1] : null;
}

// The next page of the CSV export from its Link header, which names it relative to the
// page it came with (`url`); only another page of the same export, on this origin.
function nextCsvPage(link, url) {
  const m = /<([^>]*)>\s*;\s*rel="?next"?/i.exec(link || '');
  if (!m) return null;
  const next = new URL(m[1], url);
  const here = new URL(url);
  return next.origin === location.origin && next.pathname === here.pathname ? next.href : null;
}

async function downloadReconCsv() {
  const r = state.recon;
  const date = r.report ? String(r.report.date) : null;
  if (!date || r.downloading || !state.token) return;
  r.downloading = true;
  updateReconControls();
  showMessage('Downloading the findings of ' + date + '…', 'info');
  // Signed out, or in as someone else, meanwhile: the download is theirs no more.
  const token = state.token;
  const fetched = new Set();
  try {
    let url = new URL(API_ROOT + 'admin/reconciliation.csv?' + new URLSearchParams({ date }).toString(),
      location.href).href;
    let filename = 'reconciliation-' + date + '.csv';
    const parts = [];
    for (let page = 0; url; page++) {
      if (page >= 1000) throw new ApiError(0, 'too_many_pages', 'The export did not end after 1,000 pages.');
      if (fetched.has(url)) throw new ApiError(0, 'repeated_page', 'The export named a page it had sent already.');
      fetched.add(url);
      const res = await apiFetch('GET', url, 'text/csv');
      let text = await res.text();
      if (state.token !== token) return;
      if (page === 0) {
        filename = attachmentName(res.headers.get('Content-Disposition')) || filename;
      } else {
        // Each page is a whole file with the header row: keep the first one only.
        const end = text.indexOf('\n');
        if (end < 0) throw new ApiError(0, 'bad_response', 'A page of the export has no header row.');
        text = text.slice(end + 1);
        if (text && parts.length && !parts[parts.length - 1].endsWith('\n')) parts.push('\r\n');
      }
      if (text) parts.push(text);
      url = nextCsvPage(res.headers.get('Link'), res.url || url);
    }
    const href = URL.createObjectURL(new Blob(parts, { type: 'text/csv;charset=utf-8' }));
    const link = h('a', { href, download: filename, hidden: true });
    document.body.append(link);
    link.click();
    link.remove();
    setTimeout(() => URL.revokeObjectURL(href), 60000);
    showMessage('Saved ' + filename + '.', 'success');
  } catch (err) {
    if (state.token !== token) return;
    if (handleAuthError(err)) return;
    showMessage('Could not download the findings of ' + date + ': ' + err.message, 'error');
  } finally {
    if (state.token === token) {
      r.downloading = false;
      if (state.token) updateReconControls();
    }
  }
}
