"""Per-tag presence by zone from RFID reads: Arrived / Moved / Departed, after EdgeX's algorithm.

A port of the published behaviour of EdgeX Foundry's app-rfid-llrp-inventory (Apache-2.0,
`internal/inventory/tagprocessor.go`, `mobilityprofile.go`, README "Inventory algorithm"), written
anew for this gateway:

- A tag's *location* is `<reader>_<antenna>`; aliases map locations to zones ("floor",
  "backroom"), so the two polarities of one antenna, or several antennas over one zone, never
  produce a Moved between themselves.
- Per location a tag keeps the last 20 RSSI samples and when it was last read there.
- A read elsewhere moves the tag once the new location has ≥ 2 samples and its mean RSSI beats
  the old location's by an offset the *mobility profile* computes from how stale the old location
  is: `offset = slope x (t - old.last_read) + (threshold - slope x holdoff)`, capped at
  `threshold` — a tag just read at its old place needs a clearly stronger signal to move.
- Arrived: first read ever, or first read after Departed. Moved: the location changed and so did
  its alias. Departed: no read for `departed_after` (checked by the caller's timer through
  `check_departed(now)`); the tag's RSSI history is cleared. Departed tags are forgotten after
  `age_out_after`.

Pure: values in, events out; the clock is whatever `at`/`now` the caller passes.
`presence_deltas` turns zone moves into `move` StockDeltas and departures into shrink suspicions
for reconciliation.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import Enum
from typing import Final

from shared.contract import Kind, Source, StockDelta, Zone, new_delta_id

STATS_WINDOW: Final = 20  # EdgeX tagStatsWindowSize


@dataclass(frozen=True, slots=True)
class MobilityProfile:
    """How readily a tag is believed to have moved (EdgeX `MobilityProfile`)."""

    slope_dbm_per_ms: float = -0.008
    threshold_dbm: float = 6.0
    holdoff_ms: float = 500.0

    def offset(self, since_old_read_ms: float) -> float:
        intercept = self.threshold_dbm - self.slope_dbm_per_ms * self.holdoff_ms
        return min(self.threshold_dbm, self.slope_dbm_per_ms * since_old_read_ms + intercept)


ASSET_TRACKING: Final = MobilityProfile()  # EdgeX default
RETAIL_GARMENT: Final = MobilityProfile(-0.0005, 6.0, 60_000.0)


@dataclass(frozen=True, slots=True)
class PresenceConfig:
    aliases: Mapping[str, str] = field(
        default_factory=dict
    )  # location → zone; default: the location
    profile: MobilityProfile = ASSET_TRACKING
    departed_after: timedelta = timedelta(seconds=600)  # EdgeX DepartedThresholdSeconds
    age_out_after: timedelta = timedelta(hours=336)  # EdgeX AgeOutHours

    def alias(self, location: str) -> str:
        return self.aliases.get(location, location)


@dataclass(frozen=True, slots=True)
class Sighting:
    """One read, as presence needs it."""

    epc: str
    gtin: str
    location: str  # <reader>_<antenna>
    rssi: float | None  # dBm; None updates last-read only
    at: datetime


@dataclass(frozen=True, slots=True)
class Arrived:
    epc: str
    gtin: str
    zone: str
    at: datetime


@dataclass(frozen=True, slots=True)
class Moved:
    epc: str
    gtin: str
    from_zone: str
    to_zone: str
    at: datetime


@dataclass(frozen=True, slots=True)
class Departed:
    epc: str
    gtin: str
    zone: str
    at: datetime
    last_seen: datetime


PresenceEvent = Arrived | Moved | Departed


class TagState(Enum):
    UNKNOWN = "unknown"
    PRESENT = "present"
    DEPARTED = "departed"


@dataclass(slots=True)
class _LocationStats:
    rssi: deque[float] = field(default_factory=lambda: deque(maxlen=STATS_WINDOW))
    last_read: datetime | None = None

    def mean(self) -> float:
        # EdgeX averages in mW and converts back; in dBm the difference is small at these spreads,
        # and a plain mean keeps this cheap at 20k reads/s.
        return sum(self.rssi) / len(self.rssi)


@dataclass(slots=True)
class _Tag:
    epc: str
    gtin: str
    state: TagState = TagState.UNKNOWN
    location: str | None = None
    last_read: datetime | None = None
    departed_at: datetime | None = None
    stats: dict[str, _LocationStats] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class TagSnapshot:
    epc: str
    gtin: str
    state: TagState
    zone: str | None
    location: str | None
    last_read: datetime | None


class PresenceTracker:
    """Where every tag is, updated read by read."""

    def __init__(self, config: PresenceConfig = PresenceConfig()) -> None:
        self.config = config
        self._tags: dict[str, _Tag] = {}

    def observe(self, s: Sighting) -> list[PresenceEvent]:
        tag = self._tags.get(s.epc)
        if tag is None:
            tag = self._tags[s.epc] = _Tag(s.epc, s.gtin)
        prev_state, prev_location = tag.state, tag.location
        stats = tag.stats.get(s.location)
        if stats is None:
            stats = tag.stats[s.location] = _LocationStats()
        if tag.last_read is None or s.at > tag.last_read:
            tag.last_read = s.at
        if s.rssi is None:
            if stats.last_read is None or s.at > stats.last_read:
                stats.last_read = s.at
            if tag.location is None:
                tag.location = s.location
        else:
            stats.rssi.append(s.rssi)
            old = tag.stats.get(tag.location) if tag.location is not None else None
            if tag.location is None or tag.location == s.location:
                tag.location = s.location
            elif old is None or not old.rssi:
                tag.location = s.location  # the old location's stats were cleared (departed)
            elif len(stats.rssi) >= 2:
                since_ms = (
                    ((s.at - old.last_read).total_seconds() * 1000) if old.last_read else 1e12
                )
                if stats.mean() > old.mean() + self.config.profile.offset(since_ms):
                    tag.location = s.location
            if stats.last_read is None or s.at > stats.last_read:
                stats.last_read = s.at
        alias = self.config.alias
        assert tag.location is not None
        if prev_state in (TagState.UNKNOWN, TagState.DEPARTED):
            tag.state = TagState.PRESENT
            tag.departed_at = None
            return [Arrived(s.epc, s.gtin, alias(tag.location), s.at)]
        if (
            prev_location is not None
            and prev_location != tag.location
            and alias(prev_location) != alias(tag.location)
        ):
            return [Moved(s.epc, s.gtin, alias(prev_location), alias(tag.location), s.at)]
        return []

    def check_departed(self, now: datetime) -> list[Departed]:
        """Mark Present tags unread for `departed_after` as Departed (EdgeX's periodic check)."""
        out: list[Departed] = []
        limit = now - self.config.departed_after
        for tag in self._tags.values():
            if (
                tag.state is TagState.PRESENT
                and tag.last_read is not None
                and tag.last_read < limit
            ):
                tag.state = TagState.DEPARTED
                tag.departed_at = now
                for st in tag.stats.values():
                    st.rssi.clear()
                zone = self.config.alias(tag.location) if tag.location else "unknown"
                out.append(Departed(tag.epc, tag.gtin, zone, now, tag.last_read))
        return out

    def age_out(self, now: datetime) -> int:
        """Forget Departed tags older than `age_out_after`; returns how many."""
        limit = now - self.config.age_out_after
        old = [
            epc
            for epc, t in self._tags.items()
            if t.state is TagState.DEPARTED and t.departed_at is not None and t.departed_at < limit
        ]
        for epc in old:
            del self._tags[epc]
        return len(old)

    def snapshot(self) -> list[TagSnapshot]:
        alias = self.config.alias
        return [
            TagSnapshot(
                t.epc,
                t.gtin,
                t.state,
                alias(t.location) if t.location else None,
                t.location,
                t.last_read,
            )
            for t in self._tags.values()
        ]

    def __len__(self) -> int:
        return len(self._tags)


@dataclass(frozen=True, slots=True)
class ShrinkSuspicion:
    """A tag that left without a sale we know of; reconciliation decides whether it is shrink."""

    epc: str
    gtin: str
    zone: str
    last_seen: datetime


def presence_deltas(
    events: Iterable[PresenceEvent],
    next_seq: Callable[[], int],
    new_id: Callable[[], str] = new_delta_id,
) -> tuple[list[StockDelta], list[ShrinkSuspicion]]:
    """Moves between store zones become `move` deltas (qty 1, source rfid); departures become
    shrink suspicions. Moves within a zone, or to/from a location with no store zone, say nothing
    about stock and are dropped."""
    zones = {z.value: z for z in Zone}
    deltas: list[StockDelta] = []
    suspicions: list[ShrinkSuspicion] = []
    for e in events:
        if isinstance(e, Moved) and e.from_zone in zones and e.to_zone in zones:
            deltas.append(
                StockDelta(
                    id=new_id(),
                    seq=next_seq(),
                    sku=e.gtin,
                    kind=Kind.MOVE,
                    qty=1,
                    zone=zones[e.to_zone],
                    from_zone=zones[e.from_zone],
                    occurred_at=e.at,
                    source=Source.RFID,
                    confidence=0.9,
                    evidence={"epc": e.epc},
                )
            )
        elif isinstance(e, Departed):
            suspicions.append(ShrinkSuspicion(e.epc, e.gtin, e.zone, e.last_seen))
    return deltas, suspicions
