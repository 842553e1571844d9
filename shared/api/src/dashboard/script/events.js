// What each control does, and the start: a stored token signs straight in.

els.signinForm.addEventListener('submit', (event) => {
  event.preventDefault();
  let token = els.token.value.trim().replace(/^Bearer\s+/i, '');
  if (!token) {
    showMessage('Paste an admin token first.', 'error');
    els.token.focus();
    return;
  }
  if (/[^\x21-\x7e]/.test(token)) {
    showMessage('A token is one line of letters, digits and punctuation, without spaces.', 'error');
    els.token.focus();
    return;
  }
  storeToken(token);
  startSession(token);
});

els.signOut.addEventListener('click', () => signOut('Signed out.', 'info'));

els.refresh.addEventListener('click', () => {
  clearMessage();
  loadStats();
  loadList(state.pageIndex);
  loadRecon(state.recon.date);
});

els.statusFilter.addEventListener('change', () => {
  state.filter = els.statusFilter.value;
  state.cursors = [null];
  state.nextCursor = null;
  loadList(0);
});

els.firstPage.addEventListener('click', () => loadList(0));
els.prevPage.addEventListener('click', () => {
  if (state.pageIndex > 0) loadList(state.pageIndex - 1);
});
els.nextPage.addEventListener('click', () => {
  if (!state.nextCursor) return;
  state.cursors[state.pageIndex + 1] = state.nextCursor;
  loadList(state.pageIndex + 1);
});

els.rows.addEventListener('click', (event) => {
  const target = event.target instanceof Element ? event.target.closest('button') : null;
  if (!target || target.disabled) return;
  if (target.dataset.action) openConfirm(target.dataset.action, target.dataset.payoutId, target);
  else if (target.dataset.openDetail) openDetail(target.dataset.openDetail, target);
});

els.confirmKeep.addEventListener('click', () => els.confirm.close('keep'));
els.confirmOk.addEventListener('click', () => {
  const pending = state.pendingAction;
  state.pendingAction = null;
  els.confirm.close('confirm');
  if (pending) runAction(pending);
});
els.confirm.addEventListener('close', () => {
  if (els.confirm.returnValue === 'confirm') return;
  const pending = state.pendingAction;
  state.pendingAction = null;
  if (pending && pending.opener && pending.opener.isConnected) pending.opener.focus();
});

els.detailClose.addEventListener('click', closeDetail);

els.reconForm.addEventListener('submit', (event) => {
  event.preventDefault();
  const day = els.reconDate.value;
  if (!DAY_TEXT.test(day)) {
    els.reconError.textContent = 'Pick a day first (YYYY-MM-DD).';
    els.reconError.hidden = false;
    els.reconDate.focus();
    return;
  }
  loadRecon(day);
});
els.reconLatest.addEventListener('click', () => loadRecon(null));
els.reconCsv.addEventListener('click', downloadReconCsv);
els.findingsMore.addEventListener('click', loadMoreFindings);
els.findingsRows.addEventListener('click', (event) => {
  const target = event.target instanceof Element ? event.target.closest('button[data-open-finding]') : null;
  if (target) openFinding(Number(target.dataset.openFinding), target);
});

document.addEventListener('keydown', (event) => {
  if (event.key !== 'Escape' || els.confirm.open || els.detail.hidden) return;
  event.preventDefault();
  closeDetail();
});

// ---- Start ---------------------------------------------------------------

els.statusFilter.value = '';
const stored = readStoredToken();
if (stored) {
  startSession(stored);
} else {
  setSignedIn(false);
}
