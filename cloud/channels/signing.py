"""Request signatures of the platforms we push stock to (pure functions, no I/O).

Taobao TOP, JD JOS and Pinduoduo share one scheme: sort the parameters by name (ASCII order),
join name and value with no separators, wrap the string in the app secret at both ends and take
the uppercase hex MD5 (TOP doc 101617; TOP's published worked example is pinned in
tests/channels/test_signing.py). TOP also offers `hmac` (HMAC-MD5 keyed by the secret over the
unwrapped string) and `hmac-sha256`. Douyin shop signs a fixed set of fields the same wrapped way.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Mapping


def joined(params: Mapping[str, str]) -> str:
    """name1value1name2value2… in ASCII order of names; empty values are left out (as TOP does)."""
    return "".join(f"{k}{v}" for k, v in sorted(params.items()) if k != "sign" and v != "")


def wrapped_md5(params: Mapping[str, str], secret: str) -> str:
    return hashlib.md5(f"{secret}{joined(params)}{secret}".encode()).hexdigest().upper()


def top_sign(params: Mapping[str, str], secret: str) -> str:
    """The `sign` of a TOP request, by its own `sign_method` (md5 when absent)."""
    method = params.get("sign_method", "md5")
    if method == "md5":
        return wrapped_md5(params, secret)
    digest = {"hmac": hashlib.md5, "hmac-sha256": hashlib.sha256}.get(method)
    if digest is None:
        raise ValueError(f"unknown TOP sign_method {method!r}")
    return hmac.new(secret.encode(), joined(params).encode(), digest).hexdigest().upper()


def douyin_sign(app_key: str, method: str, param_json: str, timestamp: str, v: str, secret: str,
                sign_method: str = "md5") -> str:
    """Douyin shop (jinritemai) open API: only these five fields are signed, wrapped in the secret;
    md5 is lowercase hex, hmac-sha256 is keyed by the secret over the same wrapped string."""
    text = f"{secret}app_key{app_key}method{method}param_json{param_json}timestamp{timestamp}v{v}{secret}"
    if sign_method == "md5":
        return hashlib.md5(text.encode()).hexdigest()
    if sign_method == "hmac-sha256":
        return hmac.new(secret.encode(), text.encode(), hashlib.sha256).hexdigest()
    raise ValueError(f"unknown Douyin sign_method {sign_method!r}")


def body_hmac(secret: str, timestamp: str, nonce: str, method: str, path: str, body: bytes) -> str:
    """Our mini-program endpoint: HMAC-SHA256 over timestamp, nonce, method, path and body."""
    msg = b"\n".join([timestamp.encode(), nonce.encode(), method.upper().encode(), path.encode(), body])
    return hmac.new(secret.encode(), msg, hashlib.sha256).hexdigest()


def same(a: str, b: str) -> bool:
    """Constant-time comparison for signatures."""
    return hmac.compare_digest(a.encode(), b.encode())
