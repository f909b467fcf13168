"""The air a simulated reader inventories: the store world's tagged units as SGTIN-96 tags, which
antennas see them, and a Gen2 air model (RSSI, read probability, inventoried flags per session,
single/dual target, the air rate)."""

from __future__ import annotations

import logging
import math
import random
from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Final

from epcpy.epc_schemes.sgtin import SGTIN, SGTINFilterValue

from firmware_sim.llrp import frames as fr
from firmware_sim.world import BACKROOM, FLOOR, StoreWorld, WorldConfig

log = logging.getLogger("shelfsync.sim.llrp")

TICK_S: Final = 0.02  # air model step; reads are spread over antennas one tick at a time
S1_PERSIST_S: Final = 2.0  # Gen2 §6.3.2.2: S1 persistence 0.5-5 s, energised or not
S23_UNPOWERED_PERSIST_S: Final = 5.0  # Gen2: S2/S3 persist > 2 s once the tag loses power
MAX_ATTEMPTS_PER_TICK: Final = 20_000
DOOR_S: Final = 4.0  # seconds a unit carried through the door is within its antennas' reach
LATE_TICK_S: Final = 2 * TICK_S  # wall time one tick may cover when the sim runs faster than life


# --- the tags -------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Sighting:
    """How one antenna sees one tag."""

    antenna: int
    rssi: int  # dBm
    p_read: float  # chance that one singulation attempt on this antenna reads the tag


@dataclass(frozen=True, slots=True)
class SimTag:
    uid: int
    epc: bytes  # 12 bytes, SGTIN-96
    gtin: str
    serial: int
    zone: str
    bin: str | None
    sightings: tuple[Sighting, ...]


def sgtin96(gtin: str, serial: int, company_prefix_len: int) -> bytes:
    """GS1 TDS 2.1 §14.5.1 SGTIN-96 (filter 1 = point-of-sale item) via epcpy."""
    tag = SGTIN.from_gtin_plus_serial(gtin, str(serial), company_prefix_len)
    return bytes.fromhex(
        tag.hex(
            binary_coding_scheme=SGTIN.BinaryCodingScheme.SGTIN_96,
            filter_value=SGTINFilterValue.POS_ITEM,
        )
    )


EXIT: Final = "exit"  # the zone of a single antenna over the shop's door
DOOR_IN: Final = "door_in"  # two antennas over the door: the one inside it ...
DOOR_OUT: Final = "door_out"  # ... and the one outside


def zone_antennas(antennas: int, door: int | None = None,
                  door_out: int | None = None) -> dict[str, tuple[int, ...]]:
    """Default layout: the last antenna covers the backroom, the others the sales floor; `door`,
    if given, is an antenna over the exit instead (zone `exit`), or with `door_out` the inner of
    two (zones `door_in` and `door_out`), whose order of reads tells a unit's way."""
    usable = [a for a in range(1, antennas + 1) if a not in (door, door_out)]
    doors: dict[str, tuple[int, ...]] = {}
    if door is not None:
        doors = {EXIT: (door,)} if door_out is None else {DOOR_IN: (door,), DOOR_OUT: (door_out,)}
    if len(usable) < 2:
        return {FLOOR: (usable[0],), BACKROOM: (usable[0],), **doors}
    return {FLOOR: tuple(usable[:-1]), BACKROOM: (usable[-1],), **doors}


def world_for_tags(tags: int, seed: int, config: WorldConfig | None = None) -> StoreWorld:
    """A world with at least `tags` tagged units on hand (it grows the planogram until it has)."""
    config = config or WorldConfig()
    bins = config.bins
    while True:
        world = StoreWorld(store="sh-0001", seed=seed, config=replace(config, bins=bins))
        on_hand = sum(1 for u in world.units.values() if u.tagged and u.zone in (FLOOR, BACKROOM))
        if on_hand >= tags:
            return world
        bins = max(bins + 1, math.ceil(bins * tags / max(on_hand, 1) * 1.05))


@dataclass(slots=True)
class TagField:
    """Every tag the reader's antennas can reach, built from the world and refreshed as it moves.

    EPCs and radio properties are made once per unit (seeded by uid) so a unit keeps its RSSI
    and read probability for life; only its zone and bin follow the world."""

    world: StoreWorld
    antennas: int
    seed: int = 0
    limit: int | None = None  # at most this many of the opening units (by uid); later units always
    door: int | None = None  # the antenna over the exit (the inner one, with `door_out`)
    door_out: int | None = None  # the antenna outside the door
    passing: dict[int, int] = field(default_factory=dict)  # units passing the door now -> the antenna nearest
    _cache: dict[int, SimTag] = field(default_factory=dict)
    _opening: set[int] = field(default_factory=set)
    _max_opening_uid: int = 0
    _ready_at: datetime | None = None
    tags: list[SimTag] = field(default_factory=list)

    def __post_init__(self) -> None:
        opening = sorted(
            u.uid for u in self.world.units.values() if u.tagged and u.zone in (FLOOR, BACKROOM)
        )
        if self.limit is not None and opening:
            opening = opening[: self.limit]
        self._opening = set(opening)
        self._max_opening_uid = max(self.world.units, default=0)
        self.refresh()

    def refresh(self, force: bool = False) -> bool:
        """Rebuild the population if the world moved since the last refresh; True if it did."""
        if self._ready_at == self.world.now and self.tags and not force:
            return False
        layout = zone_antennas(self.antennas, self.door, self.door_out)
        floor_ants = layout[FLOOR]
        bin_index = {b: i for i, b in enumerate(sorted(self.world.bins))}
        tags: list[SimTag] = []
        for u in self.world.units.values():
            if not u.tagged or u.zone not in (FLOOR, BACKROOM) or u.uid in self.passing:
                continue
            if u.uid <= self._max_opening_uid and u.uid not in self._opening:
                continue
            cached = self._cache.get(u.uid)
            if cached is None or cached.zone != u.zone or cached.bin != u.bin:
                cached = self._make(
                    u.uid, u.gtin, u.serial, u.zone, u.bin, layout, floor_ants, bin_index
                )
                self._cache[u.uid] = cached
            tags.append(cached)
        if self.door is not None:
            for uid, antenna in sorted(self.passing.items()):
                u = self.world.units[uid]
                if u.tagged:  # carried through: strong and brief on the door's antenna it is under
                    tags.append(SimTag(uid, sgtin96(u.gtin, u.serial, len(self.world.sgtin(u)[0])),
                                       u.gtin, u.serial, EXIT, None, (Sighting(antenna, -48, 0.95),)))
        self.tags = tags
        self._ready_at = self.world.now
        return True

    def _make(
        self,
        uid: int,
        gtin: str,
        serial: int,
        zone: str,
        bin_id: str | None,
        layout: dict[str, tuple[int, ...]],
        floor_ants: tuple[int, ...],
        bin_index: dict[str, int],
    ) -> SimTag:
        rng = random.Random(f"{self.seed}:{uid}")
        if zone == FLOOR and bin_id is not None:
            primary = floor_ants[bin_index.get(bin_id, 0) % len(floor_ants)]
        else:
            primary = layout[zone][rng.randrange(len(layout[zone]))]
        rssi = int(max(-82.0, min(-35.0, rng.gauss(-58.0, 7.0))))
        # Read probability falls off towards the receiver's sensitivity; ~0.2 % of tags sit badly
        # (on metal, behind liquid, folded) and answer only rarely.
        p = max(0.05, min(0.98, 0.98 - (-45 - rssi) * 0.012))
        if rng.random() < 0.002:
            p = 0.03
        sightings = [Sighting(primary, rssi, p)]
        neighbours = [a for a in floor_ants if abs(a - primary) == 1] if zone == FLOOR else []
        if neighbours and rng.random() < 0.3:
            sightings.append(Sighting(rng.choice(neighbours), rssi - rng.randint(8, 16), p * 0.3))
        company = len(self.world.sgtin(self.world.units[uid])[0])
        return SimTag(
            uid, sgtin96(gtin, serial, company), gtin, serial, zone, bin_id, tuple(sightings)
        )


@dataclass(frozen=True, slots=True)
class Read:
    tag: SimTag
    antenna: int
    rssi: int
    channel: int


class AirModel:
    """Gen2 inventory rounds on one antenna at a time, with session flags and a slot budget.

    Single target (state A): a tag answers while its flag for the session is A; a successful read
    flips it to B, where it stays (S1 ~2 s, S2/S3 while powered, S0 not at all since the reader
    hops antennas and the tag loses power in between). Target B is the mirror image: tags in B
    answer and go back to A. Dual target inventories A and B in turn, so every tag answers every
    round and leaves its flag flipped each time. A reader left to choose (no search mode, no
    state-aware singulation) inventories single target if `own_single_target`, else dual."""

    def __init__(
        self,
        tags: Iterable[SimTag],
        antennas: int,
        rng: random.Random,
        own_single_target: bool = True,
    ) -> None:
        self.rng = rng
        self.antennas = antennas
        self.own_single_target = own_single_target
        self._by_antenna: dict[int, list[tuple[SimTag, Sighting]]] = {}
        self._pending: dict[int, list[int]] = {}
        self._flag_b: dict[bytes, float] = {}  # epc -> when it went to B
        self._requeue = False  # tags went back to A outside a reset: rebuild the A rounds
        self._rf_off_at: float | None = None
        self.session = 2
        self.target: fr.InventoryState | None = fr.InventoryState.A  # None: dual target
        self.last_spent_left = 0  # attempts `step` left unspent (its round ran out of tags)
        self.load(tags)

    @property
    def single_target(self) -> bool:
        return self.target is not None

    def load(self, tags: Iterable[SimTag]) -> None:
        by_antenna: dict[int, list[tuple[SimTag, Sighting]]] = {
            a: [] for a in range(1, self.antennas + 1)
        }
        for t in tags:
            for s in t.sightings:
                if s.antenna in by_antenna:
                    by_antenna[s.antenna].append((t, s))
        self._by_antenna = by_antenna
        self._pending = {a: list(range(len(v))) for a, v in by_antenna.items()}

    def power_on(self, spec: fr.InventorySpec, now: float, rospec_start: bool) -> None:
        """Start an AISpec. `rospec_start`: the RF was off before (a new ROSpec run), which is when
        "single target reset" re-arms every tag to A and S2/S3 flags may have decayed."""
        self.session = spec.session
        if spec.target is not None:  # the client manages tag states (LLRP 1.0.1 §15.2.1.2.1)
            self.target = spec.target
        elif spec.search_mode in (fr.SearchMode.DUAL_TARGET, fr.SearchMode.DUAL_TARGET_RESET):
            self.target = None
        elif spec.search_mode != fr.SearchMode.READER_SELECTED or self.own_single_target:
            self.target = fr.InventoryState.A
        else:
            self.target = None
        unpowered = None if self._rf_off_at is None else now - self._rf_off_at
        reset = (
            (rospec_start and spec.search_mode == fr.SearchMode.SINGLE_TARGET_RESET)
            or spec.session == 0
            or (unpowered is not None and unpowered > S23_UNPOWERED_PERSIST_S)
        )
        if reset:
            self._flag_b.clear()
            self._pending = {a: list(range(len(v))) for a, v in self._by_antenna.items()}
            self._requeue = False
        self._rf_off_at = None

    def power_off(self, now: float) -> None:
        self._rf_off_at = now

    def forget(self, epcs: Iterable[bytes]) -> None:
        """These tags lost their inventoried flag (carried out of the field): they answer again."""
        for epc in epcs:
            self._flag_b.pop(epc, None)

    def _in_b(self, epc: bytes, now: float) -> bool:
        since = self._flag_b.get(epc)
        if since is None:
            return False
        if self.session == 1 and now - since > S1_PERSIST_S:
            del self._flag_b[epc]
            return False
        return True

    def step(
        self, antenna: int, attempts: int, now: float, stop_after: int | None = None
    ) -> list[Read]:
        """Spend up to `attempts` singulation slots on `antenna`; at most `stop_after` reads."""
        pool = self._by_antenna.get(antenna, [])
        self.last_spent_left = attempts
        if not pool or attempts <= 0:
            return []
        if self.target == fr.InventoryState.B and self.session != 0:
            return self._step_target_b(pool, antenna, attempts, now, stop_after)
        reads: list[Read] = []
        rng = self.rng
        persistent = self.single_target and self.session != 0
        flips = not persistent and self.session != 0  # dual target: A→B, then B→A next round
        if persistent and self._requeue:
            self._pending = {
                a: [i for i, (t, _s) in enumerate(v) if not self._in_b(t.epc, now)]
                for a, v in self._by_antenna.items()
            }
            self._requeue = False
        pending = self._pending[antenna]
        if persistent and self.session == 1 and len(pending) < len(pool):
            # S1 flags decay on their own: put expired tags back in the round
            have = set(pending)
            pending.extend(
                i for i, (t, _s) in enumerate(pool) if i not in have and not self._in_b(t.epc, now)
            )
        spent = 0
        while spent < attempts:
            if persistent:
                if not pending:
                    break
                k = rng.randrange(len(pending))
                tag, sighting = pool[pending[k]]
                if self._in_b(
                    tag.epc, now
                ):  # read on another antenna since: drop it from this round
                    pending[k] = pending[-1]
                    pending.pop()
                    continue
            else:
                k = rng.randrange(len(pool))
                tag, sighting = pool[k]
            spent += 1
            if rng.random() >= sighting.p_read:
                continue
            if persistent:
                self._flag_b[tag.epc] = now
                pending[k] = pending[-1]
                pending.pop()
            elif flips:
                if self._flag_b.pop(tag.epc, None) is None:
                    self._flag_b[tag.epc] = now
                else:
                    self._requeue = True
            rssi = sighting.rssi + round(rng.gauss(0.0, 1.5))
            reads.append(Read(tag, antenna, rssi, rng.randint(1, 8)))
            if stop_after is not None and len(reads) >= stop_after:
                break
        self.last_spent_left = attempts - spent
        return reads

    def _step_target_b(
        self,
        pool: list[tuple[SimTag, Sighting]],
        antenna: int,
        attempts: int,
        now: float,
        stop_after: int | None,
    ) -> list[Read]:
        """Target B: only tags whose flag is B answer, and a read puts them back to A."""
        rng = self.rng
        in_b = [i for i, (t, _s) in enumerate(pool) if self._in_b(t.epc, now)]
        reads: list[Read] = []
        spent = 0
        while spent < attempts and in_b:
            k = rng.randrange(len(in_b))
            tag, sighting = pool[in_b[k]]
            spent += 1
            if rng.random() >= sighting.p_read:
                continue
            del self._flag_b[tag.epc]
            self._requeue = True
            in_b[k] = in_b[-1]
            in_b.pop()
            reads.append(Read(tag, antenna, sighting.rssi + round(rng.gauss(0.0, 1.5)),
                              rng.randint(1, 8)))
            if stop_after is not None and len(reads) >= stop_after:
                break
        self.last_spent_left = attempts - spent
        return reads
