// The figures from GET /payouts/stats, as cards.

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
