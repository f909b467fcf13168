"""How the simulated platforms check a request's signature, written here and not borrowed from the
adapters (cloud/channels/signing.py): a mistake shared by both sides would pass every test end to
end. Each function follows the platform's own description; tests/channels/test_signing.py holds
both sides to TOP's published worked examples and to the exact strings the official SDKs build
(JD, Pinduoduo and Douyin publish no worked example with its result that we could find), and to
each other on generated requests.

- TOP (open.taobao.com doc 101617): parameters sorted by name, name and value joined with nothing
  between, the `sign` parameter and empty values left out; `md5` wraps that text in the secret
  and takes the MD5, `hmac` / `hmac-sha256` key an HMAC with the secret; uppercase hex.
- JD JOS: the same wrapped MD5 over every parameter, `360buy_param_json` included (JD's official
  Java SDK, com.jd.open.api.sdk.DefaultJdClient.sign and CodecUtil.md5).
- Pinduoduo (open.pinduoduo.com, 签名规则): the same wrapped, uppercase MD5 with client_secret.
- Douyin shop (op.jinritemai.com; official doudian-sdk-golang utils/sign_util.go): five fields
  only, `app_key method param_json timestamp v` with their values, wrapped in the secret; `md5` is
  its lowercase hex MD5, `hmac-sha256` its lowercase hex HMAC-SHA256 keyed by the secret.
- Our mini-program endpoint: hex HMAC-SHA256 over timestamp, nonce, method, path and body, one
  per line (our own contract, README "Platform sync").
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Mapping

DOUYIN_FIELDS = ("app_key", "method", "param_json", "timestamp", "v")


def _sorted_text(params: Mapping[str, str]) -> bytes:
    parts = [name.encode() + params[name].encode() for name in sorted(params)
             if name != "sign" and params[name] != ""]
    return b"".join(parts)


def _wrapped_md5_hex(text: bytes, secret: str) -> str:
    digest = hashlib.md5()
    for part in (secret.encode(), text, secret.encode()):
        digest.update(part)
    return digest.hexdigest()


def top(params: Mapping[str, str], secret: str) -> str:
    """The `sign` TOP expects for these parameters, by their own `sign_method` (md5 by default)."""
    method = params.get("sign_method", "md5")
    text = _sorted_text(params)
    if method == "md5":
        return _wrapped_md5_hex(text, secret).upper()
    if method == "hmac":
        return hmac.new(secret.encode(), text, "md5").hexdigest().upper()
    if method == "hmac-sha256":
        return hmac.new(secret.encode(), text, "sha256").hexdigest().upper()
    raise ValueError(f"TOP knows no sign_method {method!r}")


def jos(params: Mapping[str, str], secret: str) -> str:
    """The `sign` JD's JOS router expects."""
    return _wrapped_md5_hex(_sorted_text(params), secret).upper()


def pdd(params: Mapping[str, str], secret: str) -> str:
    """The `sign` Pinduoduo's router expects (client_secret wrapped around the sorted pairs)."""
    return _wrapped_md5_hex(_sorted_text(params), secret).upper()


def douyin(app_key: str, method: str, param_json: str, timestamp: str, v: str, secret: str,
           sign_method: str = "md5") -> str:
    """The `sign` Douyin shop's open API expects."""
    values = dict(zip(DOUYIN_FIELDS, (app_key, method, param_json, timestamp, v), strict=True))
    text = "".join(name + values[name] for name in DOUYIN_FIELDS).encode()
    if sign_method == "md5":
        return _wrapped_md5_hex(text, secret)
    if sign_method == "hmac-sha256":
        return hmac.new(secret.encode(), secret.encode() + text + secret.encode(), "sha256").hexdigest()
    raise ValueError(f"Douyin knows no sign_method {sign_method!r}")


def mini_program(secret: str, timestamp: str, nonce: str, method: str, path: str, body: bytes) -> str:
    """X-Shelfsync-Signature of a request to our mini-program's stock endpoint."""
    lines = [timestamp.encode(), nonce.encode(), method.upper().encode(), path.encode(), body]
    return hmac.new(secret.encode(), b"\n".join(lines), "sha256").hexdigest()


def matches(given: str, expected: str) -> bool:
    """A constant-time comparison (a signature check must not leak how much of it was right)."""
    return hmac.compare_digest(given.encode(), expected.encode())
