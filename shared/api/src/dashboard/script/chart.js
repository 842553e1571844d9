// The amounts by status as horizontal bars, inline SVG.

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
