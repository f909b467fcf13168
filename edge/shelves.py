"""The shelves snapshot: every scale bin and camera lane as the gateway sees it now, retained on
`…/gw/{gw}/shelves` for the cloud's console and the staff alerts.

What the observations mean for stock (picks, shrink, restocks) is the reconciler's job
(edge/fusion); here the shelves are only reported as they are.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Sequence
from dataclasses import replace
from datetime import UTC, datetime

from edge.camera.source import CameraConfig, CameraSource
from edge.clock import WALL_CLOCK, Clock
from edge.fusion.domain import CameraStatus, LaneCount, LaneUnavailable, Observation
from edge.fusion.domain import Observation as CameraObservation
from edge.shelf.poller import ShelfConfig, ShelfPoller
from shared import contract
from shared.contract import BinView, ShelfSnapshot, Stream

Publish = Callable[[Stream, bytes, bool], None]


class Shelves:
    """Polls every weighing bus and camera and keeps the retained shelves snapshot current:
    scale bins by their weight, camera lanes (that name a bin and SKU) by their count."""

    def __init__(self, config: ShelfConfig | None, cameras: Sequence[CameraConfig], store: str,
                 gateway: str, publish: Publish,
                 on_observation: Callable[[Observation | CameraObservation], None] | None = None,
                 debounce_s: float = 1.0, clock: Clock = WALL_CLOCK) -> None:
        self.store, self.gateway, self.publish = store, gateway, publish
        self.on_observation = on_observation
        self.debounce_s = debounce_s
        self._changed = asyncio.Event()
        # The scales are read at the machine's pace; what they report is stamped with the shop's time.
        self.pollers = [ShelfPoller(bus, config.bins_on(bus.id), config.detector, self._emit, time.time,
                                    clock.at)
                        for bus in config.buses] if config is not None else []
        # Building a CameraSource loads its model and checks its sha256: a bad model stops
        # the gateway at start-up, not an hour later.
        # Lane counts are stamped with the shop's time, as the scales' events are: the reconciler
        # pairs them with the till's lines and the scales' changes.
        self.cameras = [CameraSource(c, clock=clock.now) for c in cameras]
        self._lanes: dict[str, BinView] = {}
        self._cameras_up: dict[str, bool] = {}
        self._last: tuple[BinView, ...] | None = None
        # (bin, SKU) → its refill alert's threshold (staff alerts: [alerts.bins], the console's settings)
        self.refill_at: Callable[[str, str], int | None] = lambda bin_id, sku: None

    def _emit(self, observation: Observation | CameraObservation) -> None:
        self._changed.set()
        if self.on_observation is not None:
            self.on_observation(observation)

    def thresholds_changed(self) -> None:
        """A refill threshold changed: publish the snapshot again."""
        self._changed.set()

    def device_states(self) -> dict[str, str]:
        """Each weighing bus ("scale-bus:ID", offline when none of its bins answers) and each
        camera that has reported ("camera:ID"), for the gateway's status."""
        states = {f"scale-bus:{p.bus.id}": "offline" if p.bins and not any(b.available for b in p.snapshot())
                  else "online" for p in self.pollers}
        states |= {f"camera:{c}": "online" if up else "offline" for c, up in self._cameras_up.items()}
        return states

    def snapshot(self) -> ShelfSnapshot:
        bins = [BinView(b.bin, b.sku, b.count, b.available, grams=b.grams,
                        refill_at=self.refill_at(b.bin, b.sku))
                for p in self.pollers for b in p.snapshot()]
        bins += [replace(lane, refill_at=self.refill_at(lane.bin, lane.sku))
                 for lane in (self._lanes[k] for k in sorted(self._lanes))]
        return ShelfSnapshot(self.store, self.gateway, datetime.now(UTC), tuple(bins))

    async def _watch(self, camera: CameraSource) -> None:
        lanes = {lane.id: lane for lane in camera.config.lanes}
        async for seen in camera.observations():
            self._cameras_up[camera.config.id] = not isinstance(seen, CameraStatus) or seen.available
            if isinstance(seen, LaneCount) and seen.sku is not None and contract.is_gtin14(seen.sku):
                self._lanes[seen.lane] = BinView(seen.bin or seen.lane, seen.sku, seen.count, True,
                                                 source=contract.Source.VISION)
            elif isinstance(seen, CameraStatus) and not seen.available:
                for lane_id, view in list(self._lanes.items()):
                    if lane_id in lanes:
                        self._lanes[lane_id] = replace(view, available=False)
            elif isinstance(seen, LaneUnavailable) and seen.lane in self._lanes:
                # Outside the picture now: its last count no longer stands.
                self._lanes[seen.lane] = replace(self._lanes[seen.lane], available=False)
            self._emit(seen)

    async def run(self) -> None:
        async with asyncio.TaskGroup() as tasks:
            for poller in self.pollers:
                tasks.create_task(poller.run(), name=f"shelf-{poller.bus.id}")
            for camera in self.cameras:
                tasks.create_task(self._watch(camera), name=f"camera-{camera.config.id}")
            tasks.create_task(self._report(), name="shelves-snapshot")

    async def _report(self) -> None:
        while True:
            await self._changed.wait()
            self._changed.clear()
            snapshot = self.snapshot()
            if snapshot.bins != self._last:
                self._last = snapshot.bins
                self.publish(Stream.SHELVES, contract.encode(snapshot), True)
            await asyncio.sleep(self.debounce_s)  # at most one snapshot per debounce interval
