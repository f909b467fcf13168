"""Request signing against published examples."""

from __future__ import annotations

import hashlib
import hmac

import pytest

from cloud.channels import signing

# TOP doc 101617's worked example (as republished, e.g. segmentfault.com/q/1010000002569107).
TOP_EXAMPLE = {"method": "taobao.user.seller.get", "timestamp": "2013-05-06 13:52:03", "format": "xml",
               "app_key": "test", "v": "2.0", "fields": "nick", "sign_method": "md5", "session": "test"}


def test_top_md5_matches_the_published_example() -> None:
    assert signing.top_sign(TOP_EXAMPLE, "test") == "72CB4D809B375A54502C09360D879C64"


def test_top_md5_matches_the_second_published_example() -> None:
    """TOP's later example (secret helloworld, taobao.item.seller.get, 2016-01-01 12:00:00)."""
    params = {"method": "taobao.item.seller.get", "format": "json", "app_key": "12345678", "v": "2.0",
              "fields": "num_iid,title,nick,price,num", "num_iid": "11223344", "sign_method": "md5",
              "timestamp": "2016-01-01 12:00:00", "session": "test"}
    assert signing.top_sign(params, "helloworld") == "66987CB115214E59E6EC978214934FB8"


def test_the_sign_parameter_itself_and_empty_values_are_not_signed() -> None:
    with_extra = {**TOP_EXAMPLE, "sign": "whatever", "empty": ""}
    assert signing.top_sign(with_extra, "test") == "72CB4D809B375A54502C09360D879C64"


def test_top_hmac_keys_the_unwrapped_string_with_the_secret() -> None:
    params = {**TOP_EXAMPLE, "sign_method": "hmac"}
    text = "".join(k + v for k, v in sorted(params.items()))
    assert signing.top_sign(params, "test") == hmac.new(b"test", text.encode(), hashlib.md5).hexdigest().upper()
    params256 = {**TOP_EXAMPLE, "sign_method": "hmac-sha256"}
    assert len(signing.top_sign(params256, "test")) == 64


def test_an_unknown_sign_method_is_refused() -> None:
    with pytest.raises(ValueError, match="sign_method"):
        signing.top_sign({**TOP_EXAMPLE, "sign_method": "sha1"}, "test")


def test_douyin_signs_the_five_fields_wrapped_in_the_secret() -> None:
    got = signing.douyin_sign("k", "sku.syncStock", '{"a":1}', "2026-11-30 10:00:00", "2", "s")
    text = 's' + 'app_keyk' + 'methodsku.syncStock' + 'param_json{"a":1}' + 'timestamp2026-11-30 10:00:00' + 'v2' + 's'
    assert got == hashlib.md5(text.encode()).hexdigest()


def test_body_hmac_covers_every_part() -> None:
    base = signing.body_hmac("s", "1", "n", "PUT", "/v1/stock/1", b"{}")
    assert base != signing.body_hmac("s", "2", "n", "PUT", "/v1/stock/1", b"{}")
    assert base != signing.body_hmac("s", "1", "n", "PUT", "/v1/stock/2", b"{}")
    assert base != signing.body_hmac("s", "1", "n", "PUT", "/v1/stock/1", b"{ }")
    assert base != signing.body_hmac("t", "1", "n", "PUT", "/v1/stock/1", b"{}")
