"""Schemathesis hooks for fuzzing the local stack (`cargo xtask test`).

`cargo lambda watch` turns each HTTP request into an API Gateway event; it answers
500 itself, before any function runs, when a header value or a JSON body is not
valid UTF-8. API Gateway base64-encodes such bodies instead, and the functions
answer 400 to them (a Rust test covers that). These hooks keep those inputs away
from the emulator so that a 5xx always means a fault in our code.
"""

import schemathesis


def _is_utf8(value):
    if isinstance(value, (bytes, bytearray)):
        try:
            bytes(value).decode("utf-8")
        except UnicodeDecodeError:
            return False
    elif isinstance(value, str):
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            return False
    return True


@schemathesis.hook
def filter_body(ctx, body):
    return _is_utf8(body)


@schemathesis.hook
def filter_headers(ctx, headers):
    return all(
        isinstance(value, str) and value.isascii() for value in (headers or {}).values()
    )
