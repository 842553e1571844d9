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
