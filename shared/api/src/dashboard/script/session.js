// Signing in and out: the token kept in sessionStorage, and what a new session loads.

function readStoredToken() {
  try {
    return sessionStorage.getItem(TOKEN_KEY);
  } catch (err) {
    return null;
  }
}

function storeToken(token) {
  try {
    sessionStorage.setItem(TOKEN_KEY, token);
  } catch (err) {
    // Storage refused (private mode etc.): the token lives in memory only.
  }
}

function forgetToken() {
  state.token = null;
  try {
    sessionStorage.removeItem(TOKEN_KEY);
  } catch (err) {
    // nothing stored
  }
}

function setSignedIn(on) {
  els.signin.hidden = on;
  els.app.hidden = !on;
  els.session.hidden = !on;
}

function resetData() {
  state.listSeq++;
  state.statsSeq++;
  state.payouts = new Map();
  state.cursors = [null];
  state.pageIndex = 0;
  state.nextCursor = null;
  state.detail = null;
  state.busy = false;
  if (els.confirm.open) els.confirm.close('signed-out');
  els.rows.replaceChildren();
  els.stats.replaceChildren();
  els.chart.replaceChildren();
  els.asOf.textContent = '';
  els.statsError.hidden = true;
  els.detail.hidden = true;
  els.detailFields.replaceChildren();
  els.detailAttempts.replaceChildren();
  els.payouts.dataset.state = 'idle';
  resetRecon();
}

function signOut(message, kind) {
  forgetToken();
  resetData();
  setSignedIn(false);
  els.token.value = '';
  els.signinSubmit.disabled = false;
  if (message) showMessage(message, kind || 'info');
  els.token.focus();
}

async function startSession(token) {
  state.token = token;
  els.signinSubmit.disabled = true;
  showMessage('Signing in…', 'info');
  let stats = null;
  let statsError = null;
  const seq = ++state.statsSeq;
  try {
    stats = await api('GET', 'payouts/stats');
  } catch (err) {
    if (handleAuthError(err)) return;
    statsError = err; // the list below still tells whether the token works
  }
  if (state.token !== token) return;
  els.signinSubmit.disabled = false;
  els.token.value = '';
  setSignedIn(true);
  clearMessage();
  if (stats && seq === state.statsSeq) renderStats(stats);
  else if (statsError) renderStatsError(statsError);
  els.statsHeading.focus({ preventScroll: true });
  loadRecon(state.recon.date);
  await loadList(0);
}
