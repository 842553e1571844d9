// Calling the API with the admin's token (JSON, or a file), and what a 401 or 403 does.

// The API's answer to `method path` (relative to the API's root, or a URL on this
// origin), whatever its type; an error answer throws an ApiError with the API's own
// message when it sent one.
async function apiFetch(method, path, accept) {
  if (!state.token) throw new ApiError(401, 'unauthorized', AUTH_MESSAGES[401]);
  const url = new URL(/^https?:/.test(path) ? path : API_ROOT + path, location.href);
  if (url.origin !== location.origin) throw new ApiError(0, 'other_origin', 'The dashboard calls its own API only.');
  let res;
  try {
    res = await fetch(url.href, {
      method,
      headers: { Authorization: 'Bearer ' + state.token, Accept: accept },
      cache: 'no-store',
      credentials: 'same-origin',
      referrerPolicy: 'no-referrer',
    });
  } catch (err) {
    throw new ApiError(0, 'network', 'Could not reach the API. Check the connection and try again.');
  }
  if (!res.ok) {
    const text = await res.text();
    let body = null;
    try {
      body = text ? parseJson(text) : null;
    } catch (err) {
      body = null;
    }
    const e = body && typeof body === 'object' && body.error;
    if (e && typeof e.message === 'string') throw new ApiError(res.status, String(e.code), e.message);
    throw new ApiError(res.status, 'http_' + res.status,
      ('The API answered ' + res.status + ' ' + res.statusText).trim() + '.');
  }
  return res;
}

async function api(method, path) {
  const res = await apiFetch(method, path, 'application/json');
  const text = await res.text();
  let body = null;
  if (text) {
    try {
      body = parseJson(text);
    } catch (err) {
      body = null;
    }
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
