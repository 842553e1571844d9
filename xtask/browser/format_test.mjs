// Self-checks of the dashboard's money and number formatting.
//
//   node format_test.mjs            (Node 20+; no dependencies)
//
// It imports nothing: it reads the page's formatting part
// (shared/api/src/dashboard/script/format.js, or $DASHBOARD_FORMAT_JS), pure functions
// with no DOM, and runs it, so what is tested is exactly what the page runs.
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

const file = process.env.DASHBOARD_FORMAT_JS
  || fileURLToPath(new URL('../../shared/api/src/dashboard/script/format.js', import.meta.url));
const block = readFileSync(file, 'utf8');
// eslint-disable-next-line no-new-func -- test harness only, never in the page
const lib = new Function(`'use strict';\n${block}\nreturn { formatPaise, formatCount, formatAge, groupIndian, barLength, parseJson, toBigIntStrict };`)();

let passed = 0;
let failed = 0;
function check(name, actual, expected) {
  if (actual === expected) {
    passed++;
  } else {
    failed++;
    console.error(`FAIL ${name}: got ${JSON.stringify(actual)}, expected ${JSON.stringify(expected)}`);
  }
}
function throws(name, fn) {
  try {
    const got = fn();
    failed++;
    console.error(`FAIL ${name}: expected a TypeError, got ${JSON.stringify(got)}`);
  } catch (err) {
    if (err instanceof TypeError) passed++;
    else {
      failed++;
      console.error(`FAIL ${name}: expected a TypeError, got ${err}`);
    }
  }
}

const { formatPaise, formatCount, formatAge, groupIndian, barLength, parseJson } = lib;

// formatPaise: integer paise -> ₹ with Indian grouping, always two paise digits.
const paiseCases = [
  [0, '₹0.00'],
  [1, '₹0.01'],
  [5, '₹0.05'],
  [10, '₹0.10'],
  [99, '₹0.99'],
  [100, '₹1.00'],
  [12345, '₹123.45'],
  [99999, '₹999.99'],
  [100000, '₹1,000.00'],
  [123456, '₹1,234.56'],
  [10000000, '₹1,00,000.00'],
  [12345678, '₹1,23,456.78'],
  [1000000000, '₹1,00,00,000.00'],
  [123456789012, '₹1,23,45,67,890.12'],
  // 2^53 - 1 paise = 90071992547409 rupees 91 paise (the largest exact JS number)
  [9007199254740991, '₹9,00,71,99,25,47,409.91'],
  [9007199254740993n, '₹9,00,71,99,25,47,409.93'],
  ['9007199254740993', '₹9,00,71,99,25,47,409.93'],
  [123456789012345678901234567890n, '₹1,23,45,67,89,01,23,45,67,89,01,23,45,678.90'],
  [-5, '-₹0.05'],
  [-12345678, '-₹1,23,456.78'],
  ['-100', '-₹1.00'],
];
for (const [input, expected] of paiseCases) check(`formatPaise(${String(input)})`, formatPaise(input), expected);

for (const bad of [1.5, '12.5', '1e3', '', ' 12', '12 ', '+5', '0x10', NaN, Infinity, 1e21, null, undefined, {}, [], true]) {
  throws(`formatPaise(${typeof bad === 'string' ? JSON.stringify(bad) : String(bad)}) throws`, () => formatPaise(bad));
}

// An independent oracle: Intl's en-IN grouping of the rupees part, BigInt all the way.
const enIN = new Intl.NumberFormat('en-IN', { useGrouping: true });
let seed = 0x2545f491n;
function nextRandom() {
  seed = (seed * 6364136223846793005n + 1442695040888963407n) & ((1n << 64n) - 1n);
  return seed;
}
for (let i = 0; i < 500; i++) {
  const digits = Number(nextRandom() % 30n) + 1;
  const n = nextRandom() % (10n ** BigInt(digits));
  const expected = '₹' + enIN.format(n / 100n) + '.' + String(n % 100n).padStart(2, '0');
  check(`formatPaise(${n}n) vs Intl en-IN`, formatPaise(n), expected);
  check(`formatPaise("${n}") vs bigint`, formatPaise(String(n)), expected);
}

// groupIndian / formatCount
check('groupIndian("1")', groupIndian('1'), '1');
check('groupIndian("123")', groupIndian('123'), '123');
check('groupIndian("1234")', groupIndian('1234'), '1,234');
check('groupIndian("12345")', groupIndian('12345'), '12,345');
check('groupIndian("123456")', groupIndian('123456'), '1,23,456');
check('groupIndian("1234567")', groupIndian('1234567'), '12,34,567');
check('formatCount(0)', formatCount(0), '0');
check('formatCount(999)', formatCount(999), '999');
check('formatCount(123456)', formatCount(123456), '1,23,456');
check('formatCount(10000000n)', formatCount(10000000n), '1,00,00,000');
check('formatCount(-1234)', formatCount(-1234), '-1,234');
throws('formatCount(2.5) throws', () => formatCount(2.5));

// formatAge
check('formatAge(0)', formatAge(0), '0 s');
check('formatAge(59)', formatAge(59), '59 s');
check('formatAge(60)', formatAge(60), '1 min');
check('formatAge(3599)', formatAge(3599), '59 min');
check('formatAge(3600)', formatAge(3600), '1 h');
check('formatAge(11520)', formatAge(11520), '3 h 12 min');
check('formatAge(86400)', formatAge(86400), '1 d');
check('formatAge(90000)', formatAge(90000), '1 d 1 h');
check('formatAge(3600n)', formatAge(3600n), '1 h');
check('formatAge(null)', formatAge(null), '—');
check('formatAge(-5)', formatAge(-5), '—');
check('formatAge("x")', formatAge('x'), '—');

// barLength: pixels from BigInt ratios
check('barLength(0, 0, 400)', barLength(0, 0, 400), 0);
check('barLength(0, 100, 400)', barLength(0, 100, 400), 0);
check('barLength(50, 100, 400)', barLength(50, 100, 400), 200);
check('barLength(100, 100, 400)', barLength(100, 100, 400), 400);
check('barLength(1, 10^18, 400) >= 1 px', barLength(1n, 10n ** 18n, 400), 1);
check('barLength(1, 3, 400)', barLength(1, 3, 400), 133.33);
check('barLength(2^60, 2^61, 400)', barLength(2n ** 60n, 2n ** 61n, 400), 200);

// parseJson: safe integers stay numbers; unsafe ones become exact BigInts where the
// engine passes the source text to revivers (Chrome 114+; Node 20 only with a flag).
const parsed = parseJson('{"a": 12345, "b": 1.5, "c": "x", "d": null}');
check('parseJson keeps safe integers as numbers', parsed.a, 12345);
check('parseJson keeps floats', parsed.b, 1.5);
let sourceAccess = false;
JSON.parse('1', (k, v, ctx) => {
  sourceAccess = Boolean(ctx && ctx.source === '1');
  return v;
});
if (sourceAccess) {
  const big = parseJson('{"amount_paise": 9007199254740993}');
  check('parseJson keeps 9007199254740993 exact', big.amount_paise, 9007199254740993n);
  check('formatPaise of parsed big amount', formatPaise(big.amount_paise), '₹9,00,71,99,25,47,409.93');
} else {
  console.log('note: this Node has no JSON.parse source access; the BigInt path is checked in the browser test');
}

console.log(`format_test: ${passed} passed, ${failed} failed`);
process.exit(failed ? 1 : 0);
