// Process, retry and cancel: confirmed in a dialog, run against the API, the row
// replaced by the payout as it stands afterwards.

function setBusy(on, id) {
  state.busy = on;
  for (const b of els.rows.querySelectorAll('button[data-action]')) b.disabled = on;
  els.confirmOk.disabled = on;
  const row = id ? rowOf(id) : null;
  if (row) {
    if (on) row.setAttribute('aria-busy', 'true');
    else row.removeAttribute('aria-busy');
  }
}

function openConfirm(name, id, opener) {
  const p = state.payouts.get(id);
  const action = ACTIONS[name];
  if (!p || !action || state.busy || els.confirm.open) return;
  state.pendingAction = { name, id, opener };
  els.confirmTitle.textContent = action.label + ' payout';
  els.confirmText.textContent = action.label + ' payout ' + id + ' of ' + money(p.amount_paise) +
    ' to user ' + p.user_id + '?';
  els.confirmNote.textContent = action.note;
  els.confirmOk.textContent = 'Confirm';
  els.confirmOk.disabled = false;
  els.confirm.returnValue = '';
  els.confirm.showModal();
  els.confirmKeep.focus();
}

function focusRow(id, fallback) {
  const row = rowOf(id);
  const target = (row && (row.querySelector('button[data-action]') || row.querySelector('button.link'))) ||
    (fallback && fallback.isConnected ? fallback : null) || els.listHeading;
  target.focus();
}

async function runAction({ name, id, opener }) {
  const action = ACTIONS[name];
  setBusy(true, id);
  showMessage(action.progress + ' payout ' + id + '…', 'info');
  let reload = false;
  try {
    const updated = await api('POST', action.path(id));
    if (!updated || typeof updated.payout_id !== 'string' || typeof updated.status !== 'string') {
      throw new ApiError(200, 'bad_response', 'The API sent an answer the dashboard cannot read.');
    }
    const key = String(updated.payout_id);
    state.payouts.set(key, updated);
    const old = rowOf(key);
    if (old) old.replaceWith(buildRow(updated));
    if (state.detail && state.detail.payout_id === key) renderDetail(updated);
    showMessage('Payout ' + key + ' is now ' + updated.status + '.', 'success');
  } catch (err) {
    if (handleAuthError(err)) return;
    showMessage(err.message, 'error');
    // The gateway had paid it: the payout is completed now, show that.
    reload = err.code === 'already_paid';
  } finally {
    if (state.token) {
      setBusy(false, id);
      focusRow(id, opener);
      loadStats();
      if (reload) loadList(state.pageIndex);
    }
  }
}
