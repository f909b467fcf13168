"""Times people and tills send (RFC 3339 in any of its forms) and how far from the receiver's clock
they may lie; the wire format the gateway writes stays ms-precision UTC with a Z."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from shared import contract
from shared.contract import ClockSkew, ContractError, parse_instant

NOW = datetime(2026, 11, 26, 3, 0, tzinfo=UTC)


@pytest.mark.parametrize(("text", "utc"), [
    # RFC 3339 §5.8 examples, then the forms tills send.
    ("1985-04-12T23:20:50.52Z", datetime(1985, 4, 12, 23, 20, 50, 520000, tzinfo=UTC)),
    ("1996-12-19T16:39:57-08:00", datetime(1996, 12, 20, 0, 39, 57, tzinfo=UTC)),
    ("1990-12-31T23:59:60Z", datetime(1991, 1, 1, 0, 0, 0, tzinfo=UTC)),  # a leap second (§5.7)
    ("1990-12-31T15:59:60-08:00", datetime(1991, 1, 1, 0, 0, 0, tzinfo=UTC)),
    ("1937-01-01T12:00:27.87+00:20", datetime(1937, 1, 1, 11, 40, 27, 870000, tzinfo=UTC)),
    ("2026-11-26T11:00:00+08:00", NOW),  # a Shanghai till, no fraction
    ("2026-11-26T11:00:00.1+08:00", NOW + timedelta(milliseconds=100)),
    ("2026-11-26T03:00:00.123456789Z", NOW + timedelta(microseconds=123456)),  # nanoseconds
    ("2026-11-26t03:00:00.000z", NOW),  # §5.6 NOTE: T and Z may be lower case
    ("2026-11-26 03:00:00.000Z", NOW),  # §5.6 NOTE: a space instead of T, for readability
    ("2026-11-26T03:00:00-00:00", NOW),  # §4.3 unknown local offset: still the UTC instant
])
def test_every_rfc_3339_form_is_read_as_its_utc_instant(text: str, utc: datetime) -> None:
    parsed = parse_instant(text, "at")
    assert parsed == utc
    assert parsed.utcoffset() == timedelta(0) and parsed.tzinfo is UTC


@pytest.mark.parametrize("text", [
    "2026-11-26T03:00:00",  # no offset: which instant is it?
    "2026-11-26",
    "2026-11-26T03:00Z",  # seconds are required
    "20261126T030000Z",  # ISO 8601 basic format is not RFC 3339
    "2026-11-26T03:00:00+0800",
    "2026-11-26T03:00:00.Z",
    "2026-11-26T03:00:00,5Z",
    "2026-02-30T03:00:00Z",  # not a real day
    "2026-11-26T24:00:00Z",
    "2026-11-26T03:00:00+24:00",
    "2026-11-26T03:00:00Z\n",
    "",
    20261126,
    None,
])
def test_anything_else_is_refused_naming_the_field(text: object) -> None:
    with pytest.raises(ContractError) as e:
        parse_instant(text, "lines[0].at")
    assert e.value.field == "lines[0].at"
    assert "RFC 3339" in e.value.problem or "real" in e.value.problem


def test_the_gateway_still_writes_ms_precision_utc_with_a_z() -> None:
    at = parse_instant("2026-11-26T11:00:00.123456789+08:00", "at")
    assert contract.format_ts(at) == "2026-11-26T03:00:00.123Z"


def test_the_wire_decoder_stays_strict() -> None:
    """The DeltaBatch is written by gateways only, always by format_ts: one canonical form."""
    with pytest.raises(ContractError):
        contract.parse_ts("2026-11-26T11:00:00.123+08:00", "occurred_at")


SKEW = ClockSkew(ahead=timedelta(minutes=5), behind=timedelta(days=30))


@pytest.mark.parametrize("at", [NOW, NOW + timedelta(minutes=5), NOW - timedelta(days=30)])
def test_a_time_within_the_skew_passes(at: datetime) -> None:
    SKEW.check(at, NOW, "at")


@pytest.mark.parametrize(("at", "says"), [
    (NOW + timedelta(days=3653), "ahead"),
    (NOW + timedelta(minutes=5, milliseconds=1), "ahead"),
    (NOW - timedelta(days=31), "old"),
])
def test_a_time_beyond_the_skew_is_refused_naming_the_field(at: datetime, says: str) -> None:
    with pytest.raises(ContractError) as e:
        SKEW.check(at, NOW, "at")
    assert e.value.field == "at" and says in e.value.problem


def test_without_a_bound_behind_any_age_passes() -> None:
    ClockSkew(ahead=timedelta(minutes=15)).check(NOW - timedelta(days=3650), NOW, "occurred_at")
