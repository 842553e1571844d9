// Money, counts and ages as the page shows them. Pure, no DOM: xtask/browser/
// format_test.mjs runs this file alone against Node's own en-IN grouping.

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
