// Calling the JSON API with the admin's token, and what a 401 or 403 does.

async function api(method, path) {
  if (!state.token) throw new ApiError(401, 'unauthorized', AUTH_MESSAGES[401]);
  let res;
  try {
    res = await fetch(API_ROOT + path, {
      method,
      headers: { Authorization: 'Bearer ' + state.token, Accept: 'application/json' },
      cache: 'no-store',
      credentials: 'same-origin',
      referrerPolicy: 'no-referrer',
    });
  } catch (err) {
    throw new ApiError(0, 'network', 'Could not reach the API. Check the connection and try again.');
  }
  const text = await res.text();
  let body = null;
  if (text) {
    try {
      body = parseJson(text);
    } catch (err) {
      body = null;
    }
  }
  if (!res.ok) {
    const e = body && typeof body === 'object' && body.error;
    if (e && typeof e.message === 'string') throw new ApiError(res.status, String(e.code), e.message);
    throw new ApiError(res.status, 'http_' + res.status,
      ('The API answered ' + res.status + ' ' + res.statusText).trim() + '.');
  }
  if (!body || typeof body !== 'object') {
    throw new ApiError(res.status, 'bad_response', 'The API sent an answer the dashboard cannot read.');
  }
  return body;
}

// 401/403 anywhere: forget the token and say why. True when handled.
function handleAuthError(err) {
  if (err && (err.status === 401 || err.status === 403)) {
    signOut(AUTH_MESSAGES[err.status], 'error');
    return true;
  }
  return false;
}
