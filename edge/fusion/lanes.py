"""A camera lane's counts, frame by frame, in; its lasting count changes out. Pure: no I/O.

The shelf counter (edge/camera/source.py) counts a lane's front row in every frame it is given,
about one a second, with a confidence. A single frame is wrong now and then (a hand in the
picture, glare, a partly empty lane: the counter is about 95-99 % exact per frame), so a count is
believed only when `frames` frames in a row agree on it, each at least `min_confidence` sure. A
believed count that differs from the last believed one is a `LaneChange`, dated at the first
frame that showed it (the hand has just left the bin), with the agreeing frames' mean confidence.

The first believed count of a lane is its level, not a change. A lane the camera cannot count
(`LaneUnavailable`, or its camera down: `CameraStatus`) starts over when it is counted again: what
changed while nobody watched is not dated, so it is not a pick or a put-back (the book keeps
what the till and the door say; the night's count settles the rest).

Why not the scale's detector (edge/shelf/detector.py): it judges grams against a unit's weight
with the load cell's noise and settling; a lane's count is already a whole number, and what is
uncertain is the frame, which the counter says itself.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from edge.fusion.domain import CameraStatus, LaneChange, LaneCount, LaneUnavailable, Observation


@dataclass(slots=True)
class _Lane:
    believed: int | None = None
    candidate: int | None = None
    since: LaneCount | None = None  # the first frame of the candidate's run
    run: list[float] = field(default_factory=list)  # the confidences of its frames


@dataclass
class LaneTracker:
    """Lane counts in, `LaneChange`s out, per lane (a lane that names no bin is not tracked)."""

    frames: int = 3
    min_confidence: float = 0.5
    _lanes: dict[str, _Lane] = field(default_factory=dict)
    _camera_of: dict[str, str] = field(default_factory=dict)  # lane -> camera, when known

    def __post_init__(self) -> None:
        if self.frames < 1 or not 0 <= self.min_confidence <= 1:
            raise ValueError(f"frames must be >= 1 and min_confidence in [0, 1], got "
                             f"{self.frames}, {self.min_confidence}")

    def lane_of_camera(self, lane: str, camera: str) -> None:
        """Tell the tracker which camera counts a lane (its CameraStatus then resets the lane)."""
        self._camera_of[lane] = camera

    def observe(self, obs: Observation) -> LaneChange | None:
        if isinstance(obs, LaneUnavailable):
            self._lanes.pop(obs.lane, None)
            return None
        if isinstance(obs, CameraStatus):
            if not obs.available:
                for lane_id in [k for k, cam in self._camera_of.items() if cam == obs.camera]:
                    self._lanes.pop(lane_id, None)
            return None
        if not isinstance(obs, LaneCount) or obs.bin is None:
            return None
        lane = self._lanes.setdefault(obs.lane, _Lane())
        if obs.count < 0 or obs.confidence < self.min_confidence:
            lane.candidate, lane.since, lane.run = None, None, []  # a frame it cannot vouch for
            return None
        if obs.count != lane.candidate:
            lane.candidate, lane.since, lane.run = obs.count, obs, []
        lane.run = [*lane.run[1 - self.frames:], obs.confidence] if self.frames > 1 else [obs.confidence]
        if len(lane.run) < self.frames or lane.candidate == lane.believed:
            return None
        first, before = lane.since, lane.believed
        assert first is not None
        lane.believed = obs.count
        if before is None:
            return None  # its level: nothing changed that we saw
        return LaneChange(first.at, obs.bin, obs.count - before, obs.count,
                          round(sum(lane.run) / len(lane.run), 4), before, obs.lane)

    def level(self, lane: str) -> int | None:
        """The lane's believed count (None: not counted yet, or since it went away)."""
        got = self._lanes.get(lane)
        return None if got is None else got.believed
