// The page's constants, its lifecycle (from the service's TRANSITIONS), the elements
// it fills and the state it keeps between requests.

const TOKEN_KEY = 'payouts.adminToken';
const PAGE_SIZE = 20;
// The lifecycle as the service's TRANSITIONS table has it, written in when the page is
// built (shared/api/src/dashboard.rs): every status, in order, and the statuses each
// admin action may start from.
const LIFECYCLE = /*LIFECYCLE*/ null;
const STATUSES = LIFECYCLE.statuses;
const STATUS_LABELS = {
  pending: 'Pending', processing: 'Processing', completed: 'Completed',
  failed: 'Failed', cancelled: 'Cancelled', reversed: 'Reversed',
};
const TYPE_LABELS = { scout_bounty: 'Scout bounty', seller_payout: 'Seller payout' };
const TYPE_CARDS = [['scout_bounty', 'Scout bounties'], ['seller_payout', 'Seller payouts']];
// The admin actions: where each may start from is the lifecycle's, the rest is the page's.
const ACTIONS = {
  process: {
    label: 'Process', progress: 'Processing', from: LIFECYCLE.actions.process,
    path: (id) => 'payouts/process/' + encodeURIComponent(id),
    note: 'It is sent to the payment gateway and paid now.',
  },
  retry: {
    label: 'Retry', progress: 'Retrying', from: LIFECYCLE.actions.retry,
    path: (id) => 'payouts/' + encodeURIComponent(id) + '/retry',
    note: 'A new attempt is sent to the payment gateway and paid now.',
  },
  cancel: {
    label: 'Cancel', progress: 'Cancelling', from: LIFECYCLE.actions.cancel,
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
  'detail-fields', 'detail-note', 'detail-attempts', 'detail-history', 'confirm', 'confirm-title',
  'confirm-text', 'confirm-note', 'confirm-keep', 'confirm-ok', 'recon', 'recon-heading', 'recon-day',
  'recon-form', 'recon-date', 'recon-show', 'recon-latest', 'recon-csv', 'recon-none', 'recon-error',
  'recon-report', 'recon-runs', 'recon-totals-rows', 'recon-matched', 'recon-kinds-box', 'recon-kinds',
  'recon-actions', 'findings', 'findings-rows', 'findings-empty', 'findings-more', 'findings-count']) {
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
  recon: {
    date: null, // the day asked for; null: the API's default, yesterday
    report: null,
    findings: [],
    nextCursor: null,
    seq: 0,
    loads: 0,
    downloading: false,
  },
};

// The reconciliation's words for its findings and actions, as the page shows them.
const FINDINGS_PAGE_SIZE = 50;
const FINDING_KINDS = {
  unknown_to_us: 'Unknown to us',
  missing_at_gateway: 'Missing at the gateway',
  status_mismatch: 'Status mismatch',
  amount_mismatch: 'Amount mismatch',
  destination_mismatch: 'Destination mismatch',
  paid_twice: 'Paid twice',
  statement_mismatch: 'Statement disagrees',
};
const FINDING_ACTIONS = { repaired: 'Repaired', left_for_person: 'Left for a person' };
// Both sides' totals, in the order the panel lists them: [key, label, money?].
const RECON_TOTALS = [
  ['payouts', 'Payouts', false],
  ['paid', 'Paid', false],
  ['paid_paise', 'Paid amount', true],
  ['not_paid', 'Not paid', false],
  ['in_flight', 'In flight', false],
];

class ApiError extends Error {
  constructor(status, code, message) {
    super(message);
    this.status = status;
    this.code = code;
  }
}
