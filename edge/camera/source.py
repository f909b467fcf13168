"""Shelf cameras: frames in, lane counts out (ARCHITECTURE §2, §4, §7).

Responsibilities, each a small piece:
- the camera config section (lanes with ROI, bin or SKU, facings) parsed once into frozen values;
- the model contract: `crop_lane` and `preprocess` are THE preprocessing the model was trained
  with (models/train.py imports them), so training and the gateway cannot drift apart;
- `LaneCounter`: the ONNX model, its sha256 checked against the manifest before it is loaded;
- `FrameHealth`: a pure detector of a frozen or black camera;
- `CameraSource`: the adapter. Frames come from HTTP polling of a JPEG URL (aiohttp) or from
  `cv2.VideoCapture` (MJPEG over HTTP, RTSP, a V4L2 device, a file); decoding and inference run in
  a one-worker executor, never in the event loop (ARCHITECTURE §4). It yields `LaneCount` and
  `CameraStatus` observations.

Config: the `[camera]` section of the store TOML (edge/config.py hands it over as parsed TOML),
flat like `[shelf]`: feeds, and lanes that name their feed. `lanes.json` for `shelfsync camera
count` holds the same lane objects under a "lanes" key; the simulator's /truth.json works as is,
and `shelfsync sim camera --print-config` prints this section for a simulated camera.

    [camera]
    model = "models/shelf_counter"            # optional; default: the model bundled in the checkout

    [[camera.feed]]
    id = "cam-a1"
    url = "http://10.0.0.21:8081/frame.jpg"   # http(s) ending .jpg/.jpeg: polled with aiohttp;
                                              # else OpenCV: .../stream.mjpg, rtsp://..., a V4L2
                                              # device number ("0") or path, a video file
    interval_s = 1.0                          # seconds between counted frames
    frozen_after_s = 10.0                     # unchanged frames for this long -> unavailable
    black_level = 12.0                        # mean and spread of luma below this -> black
    timeout_s = 5.0                           # HTTP timeout per frame

    [[camera.lane]]
    feed = "cam-a1"
    id = "A1-1"
    bin = "A1-1"                              # bin or sku (or both)
    sku = "06923450000108"
    facings = 2                               # optional, informational
    roi = [x, y, w, h]                        # or quad = [[x,y],[x,y],[x,y],[x,y]] (TL,TR,BR,BL)
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import hashlib
import json
import logging
import math
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final

from edge.fusion.domain import CameraStatus, LaneCount, LaneUnavailable, Observation
from shared.backoff import Backoff
from shared.toml_tables import check_keys

# The camera part: OpenCV and numpy here, onnxruntime in LaneCounter. A gateway installed without
# it (deploy/pi/install.sh on a 32-bit OS, where onnxruntime has no build and PyPI has neither
# OpenCV nor numpy) still parses [camera] and uses the values below, so everything else in the
# gateway runs; building a camera or a counter raises CameraError saying why (require_camera_part).
# Optional imports rather than a module split, until the gateway's install extras separate them.
CAMERA_PART_MISSING: ImportError | None = None
try:
    import cv2
    import numpy as np
    import numpy.typing as npt
except ImportError as e:
    CAMERA_PART_MISSING = e

log = logging.getLogger(__name__)

INPUT_H: Final = 64
INPUT_W: Final = 128
# A crop with less spread than this (in 8-bit levels) is flat: its noise is not amplified.
MIN_STD: Final = 8.0
DEFAULT_MODEL_DIR: Final = Path(__file__).resolve().parents[2] / "models" / "shelf_counter"

if TYPE_CHECKING or CAMERA_PART_MISSING is None:
    Image = npt.NDArray[np.uint8]
Quad = tuple[tuple[float, float], tuple[float, float], tuple[float, float], tuple[float, float]]


class CameraError(Exception):
    """A camera that cannot be used: bad config, bad model, unreadable frames."""


class ModelIntegrityError(CameraError):
    """The model file is not the one its manifest names (sha256 mismatch)."""


class FrameError(CameraError):
    """A frame that cannot be counted: cut short, or not an image at all."""


WITHOUT_CAMERA_PART = (
    "cameras need a 64-bit OS: this gateway was installed without its camera part (OpenCV, "
    "numpy, onnxruntime), which has no build for 32-bit systems such as Raspberry Pi OS "
    "32-bit; install the 64-bit OS for cameras"
)


def require_camera_part() -> None:
    """Raise CameraError, saying why, when the camera libraries are not installed here."""
    if CAMERA_PART_MISSING is not None:
        raise CameraError(f"{WITHOUT_CAMERA_PART} ({CAMERA_PART_MISSING})")


# --- values -------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Lane:
    id: str
    quad: Quad
    bin: str | None = None
    sku: str | None = None
    facings: int | None = None


@dataclass(frozen=True, slots=True)
class CameraConfig:
    id: str
    url: str
    lanes: tuple[Lane, ...]
    model_dir: Path = DEFAULT_MODEL_DIR
    interval_s: float = 1.0
    frozen_after_s: float = 10.0
    black_level: float = 12.0  # mean luma below this with little spread -> black frame
    timeout_s: float = 5.0




def _quad(obj: Mapping[str, Any], where: str) -> Quad:
    if "quad" in obj:
        pts = obj["quad"]
        if (
            not isinstance(pts, Sequence)
            or len(pts) != 4
            or not all(isinstance(p, Sequence) and len(p) == 2 for p in pts)
        ):
            raise CameraError(f"{where}.quad: expected 4 [x, y] points (TL, TR, BR, BL)")
        try:
            q = tuple((float(p[0]), float(p[1])) for p in pts)
        except (TypeError, ValueError) as e:
            raise CameraError(f"{where}.quad: points must be numbers") from e
    elif "roi" in obj:
        roi = obj["roi"]
        if not isinstance(roi, Sequence) or len(roi) != 4:
            raise CameraError(f"{where}.roi: expected [x, y, w, h]")
        try:
            x, y, w, h = (float(v) for v in roi)
        except (TypeError, ValueError) as e:
            raise CameraError(f"{where}.roi: values must be numbers") from e
        q = ((x, y), (x + w, y), (x + w, y + h), (x, y + h))
    else:
        raise CameraError(f"{where}: needs roi = [x, y, w, h] or quad = [[x, y] x4]")
    if not all(math.isfinite(v) for p in q for v in p):
        raise CameraError(f"{where}: coordinates must be finite")
    width = math.dist(q[0], q[1])
    height = math.dist(q[0], q[3])
    if width < 8 or height < 8:
        raise CameraError(f"{where}: region is smaller than 8x8 pixels")
    return q  # type: ignore[return-value]  # four points: checked above (len 4) or built as four


def parse_lanes(items: object, where: str = "lanes") -> tuple[Lane, ...]:
    if not isinstance(items, Sequence) or isinstance(items, str | bytes) or not items:
        raise CameraError(f"{where}: expected a non-empty list of lanes")
    lanes: list[Lane] = []
    seen: set[str] = set()
    for i, obj in enumerate(items):
        at = f"{where}[{i}]"
        if not isinstance(obj, Mapping):
            raise CameraError(f"{at}: expected a table/object")
        lane_id = obj.get("id")
        if not isinstance(lane_id, str) or not lane_id:
            raise CameraError(f"{at}.id: expected a non-empty string")
        if lane_id in seen:
            raise CameraError(f"{at}.id: duplicate lane {lane_id!r}")
        seen.add(lane_id)
        facings = obj.get("facings", obj.get("slots"))
        if facings is not None and (not isinstance(facings, int) or facings < 1):
            raise CameraError(f"{at}.facings: expected a positive integer")
        lanes.append(
            Lane(
                lane_id, _quad(obj, at), _opt_str(obj, "bin", at), _opt_str(obj, "sku", at), facings
            )
        )
    return tuple(lanes)


def _opt_str(obj: Mapping[str, Any], key: str, at: str) -> str | None:
    value = obj.get(key)
    if value is not None and not isinstance(value, str):
        raise CameraError(f"{at}.{key}: expected a string")
    return value


def parse_camera(section: Mapping[str, Any], base_dir: Path | None = None) -> CameraConfig:
    """One feed with its lanes (under "lanes") -> CameraConfig; raises CameraError naming the
    bad field."""
    cam_id = section.get("id")
    if not isinstance(cam_id, str) or not cam_id:
        raise CameraError("camera.feed.id: expected a non-empty string")
    where = f"camera.feed[{cam_id}]"
    url = section.get("url")
    if not isinstance(url, str) or not url:
        raise CameraError(f"{where}.url: expected a URL, device or file path")
    model = section.get("model")
    model_dir = DEFAULT_MODEL_DIR
    if model is not None:
        if not isinstance(model, str):
            raise CameraError(f"{where}.model: expected a directory path")
        model_dir = (
            Path(model) if base_dir is None or Path(model).is_absolute() else base_dir / model
        )
    numbers: dict[str, float] = {}
    for key, default in (
        ("interval_s", 1.0),
        ("frozen_after_s", 10.0),
        ("black_level", 12.0),
        ("timeout_s", 5.0),
    ):
        value = section.get(key, default)
        if not isinstance(value, int | float) or isinstance(value, bool) or not value > 0:
            raise CameraError(f"{where}.{key}: expected a positive number")
        numbers[key] = float(value)
    return CameraConfig(
        cam_id, url, parse_lanes(section.get("lanes"), f"{where}.lanes"), model_dir, **numbers
    )


# The keys of [camera], [[camera.feed]] and [[camera.lane]] in store.toml (shared/toml_tables.py:
# anything else is an error). lanes.json is not checked so: the simulator's /truth.json says more.
CAMERA_KEYS = frozenset({"model", "feed", "lane"})
FEED_KEYS = frozenset({"id", "url", "model", "interval_s", "frozen_after_s", "black_level", "timeout_s"})
LANE_KEYS = frozenset({"feed", "id", "bin", "sku", "facings", "slots", "roi", "quad"})


def parse_section(
    section: Mapping[str, Any], base_dir: Path | None = None
) -> tuple[CameraConfig, ...]:
    """The whole `[camera]` section -> one CameraConfig per feed, each with its own lanes."""
    if not isinstance(section, Mapping):
        raise CameraError("[camera] must be a table")
    check_keys(section, CAMERA_KEYS, "[camera]", error=CameraError)
    feeds, lanes = section.get("feed", []), section.get("lane", [])
    if not isinstance(feeds, list) or not isinstance(lanes, list):
        raise CameraError("camera.feed and camera.lane must be arrays of tables ([[camera.feed]])")
    for i, feed in enumerate(feeds):
        if isinstance(feed, Mapping):
            check_keys(feed, FEED_KEYS, f"camera.feed[{i}]", error=CameraError)
    by_feed: dict[str, list[Any]] = {}
    for i, lane in enumerate(lanes):
        if isinstance(lane, Mapping):
            check_keys(lane, LANE_KEYS, f"camera.lane[{i}]", error=CameraError)
        feed = lane.get("feed") if isinstance(lane, Mapping) else None
        if not isinstance(feed, str):
            raise CameraError(f"camera.lane[{i}].feed: expected the id of a [[camera.feed]]")
        by_feed.setdefault(feed, []).append({k: v for k, v in lane.items() if k != "feed"})
    known = {str(f.get("id")) for f in feeds if isinstance(f, Mapping)}
    if set(by_feed) - known:
        raise CameraError(f"camera.lane: unknown feed(s) {', '.join(sorted(set(by_feed) - known))}")
    configs = []
    for feed in feeds:
        if not isinstance(feed, Mapping):
            raise CameraError("camera.feed: expected a table")
        merged = {
            "model": section.get("model"),
            **feed,
            "lanes": by_feed.pop(str(feed.get("id")), []),
        }
        if merged["model"] is None:
            del merged["model"]
        configs.append(parse_camera(merged, base_dir))
    if len({c.id for c in configs}) != len(configs):
        raise CameraError("camera.feed: duplicate feed id")
    return tuple(configs)


def load_lanes_file(path: Path) -> tuple[Lane, ...]:
    """lanes.json: {"lanes": [...]} (the simulator's /truth.json works too) or a bare list."""
    try:
        doc = json.loads(path.read_text())
    except (OSError, ValueError) as e:
        raise CameraError(f"{path}: cannot read lanes: {e}") from e
    items = doc.get("lanes") if isinstance(doc, Mapping) else doc
    return parse_lanes(items, f"{path.name}:lanes")


# --- the model contract (preprocessing shared with models/train.py) -----------------------


def crop_lane(frame: Image, quad: Quad | Sequence[Sequence[float]]) -> Image:
    """Rectify one lane's quadrilateral to INPUT_H x INPUT_W (BGR uint8).

    Warp at the lane's own pixel size first, then shrink with INTER_AREA: a direct warp to
    128x64 would alias fine edges (the gaps between units are what the model counts)."""
    src = np.array(quad, np.float32).reshape(4, 2)
    w = max(INPUT_W, round(max(math.dist(src[0], src[1]), math.dist(src[3], src[2]))))
    h = max(INPUT_H, round(max(math.dist(src[0], src[3]), math.dist(src[1], src[2]))))
    dst = np.array([[0, 0], [w, 0], [w, h], [0, h]], np.float32)
    m = cv2.getPerspectiveTransform(src, dst)
    rect = cv2.warpPerspective(
        frame, m, (w, h), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE
    )
    return np.asarray(cv2.resize(rect, (INPUT_W, INPUT_H), interpolation=cv2.INTER_AREA), np.uint8)


def preprocess(crops: Sequence[Image]) -> npt.NDArray[np.float32]:
    """BGR crops -> N x 3 x H x W float32, RGB, each crop standardised by its own mean and std
    (so the net sees shape and contrast, not the shop's light level)."""
    batch = np.stack([c[:, :, ::-1] for c in crops]).astype(np.float32)  # BGR -> RGB
    mean = batch.mean(axis=(1, 2, 3), keepdims=True)
    std = np.maximum(batch.std(axis=(1, 2, 3), keepdims=True), MIN_STD)
    return np.ascontiguousarray(((batch - mean) / std).transpose(0, 3, 1, 2), np.float32)


# --- the model ------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Manifest:
    file: str
    sha256: str
    input_name: str
    input_shape: tuple[int, int, int, int]
    classes: int  # counts 0..classes-1
    opset: int
    raw: Mapping[str, Any] = field(default_factory=dict)


def load_manifest(model_dir: Path) -> Manifest:
    path = model_dir / "manifest.json"
    try:
        doc = json.loads(path.read_text())
        inp = doc["input"]
        return Manifest(
            doc["file"],
            doc["sha256"],
            inp["name"],
            tuple(inp["shape"]),
            int(doc["output"]["classes"]),
            int(doc["opset"]),
            doc,
        )
    except (OSError, ValueError, KeyError, TypeError) as e:
        raise CameraError(f"{path}: unreadable model manifest: {e}") from e


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


class LaneCounter:
    """The shelf-counting model. Loading verifies the file's sha256 against the manifest; a
    mismatch raises ModelIntegrityError before onnxruntime ever parses the file. `count` is
    blocking CPU work: call it from an executor."""

    def __init__(self, model_dir: Path = DEFAULT_MODEL_DIR, threads: int = 1) -> None:
        require_camera_part()
        try:
            import onnxruntime as ort  # imported here: only a gateway with cameras pays for it
        except ImportError as e:
            raise CameraError(f"{WITHOUT_CAMERA_PART} ({e})") from e

        self.manifest = load_manifest(model_dir)
        path = model_dir / self.manifest.file
        try:
            actual = sha256_file(path)
        except OSError as e:
            raise CameraError(f"{path}: cannot read model: {e}") from e
        if actual != self.manifest.sha256:
            raise ModelIntegrityError(
                f"{path}: sha256 {actual} does not match manifest {self.manifest.sha256}; "
                "refusing to load a model that is not the one measured in MODEL_CARD.md"
            )
        options = ort.SessionOptions()
        options.intra_op_num_threads = threads
        options.inter_op_num_threads = 1
        self._session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
        self._input = self._session.get_inputs()[0].name

    def count_crops(self, crops: Sequence[Image]) -> list[tuple[int, float]]:
        """(count, confidence) per crop; confidence is the softmax probability of that count."""
        if not crops:
            return []
        logits = self._session.run(None, {self._input: preprocess(crops)})[0]
        z = logits - logits.max(axis=1, keepdims=True)
        p = np.exp(z) / np.exp(z).sum(axis=1, keepdims=True)
        best = p.argmax(axis=1)
        return [(int(k), float(p[i, k])) for i, k in enumerate(best)]

    def count(self, frame: Image, lanes: Sequence[Lane]) -> list[tuple[int, float]]:
        return self.count_crops([crop_lane(frame, lane.quad) for lane in lanes])


# --- frame health ---------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Health:
    ok: bool
    reason: str  # "ok" | "black" | "frozen"


class FrameHealth:
    """Pure detector of a dead camera. A live sensor always adds noise, so a frame identical to
    the previous one (to a fraction of a grey level) for `frozen_after_s` means a frozen
    pipeline; a frame that is dark everywhere means a covered lens or a dead sensor."""

    def __init__(self, frozen_after_s: float, black_level: float) -> None:
        self._frozen_after = frozen_after_s
        self._black = black_level
        self._last: npt.NDArray[np.float32] | None = None
        self._same_since: float | None = None

    def check(self, frame: Image, now: float) -> Health:
        small = cv2.resize(
            cv2.cvtColor(frame, cv2.COLOR_BGR2GRAY), (160, 90), interpolation=cv2.INTER_AREA
        ).astype(np.float32)
        if float(small.mean()) < self._black and float(small.std()) < self._black:
            self._last, self._same_since = small, None
            return Health(False, "black")
        if self._last is not None and float(np.abs(small - self._last).mean()) < 0.01:
            self._same_since = now if self._same_since is None else self._same_since
            if now - self._same_since >= self._frozen_after:
                return Health(False, "frozen")
        else:
            self._same_since = None
        self._last = small
        return Health(True, "ok")


# --- frame sources --------------------------------------------------------------------------


# ITU-T T.81 (JPEG) B.2.1: an image is SOI (FF D8) ... EOI (FF D9). PNG (ISO/IEC 15948, 5.6):
# the last chunk is IEND. A frame cut short (a camera or proxy that drops the end of a transfer,
# a file copied half-way) lacks them, and OpenCV's decoders may fill the missing rows with grey
# and only print "Premature end of JPEG file" to stderr, out of the caller's reach; the model
# then counts the grey as empty shelf. So completeness is checked on the bytes, before decoding.
JPEG_SOI, JPEG_EOI = b"\xff\xd8", b"\xff\xd9"
PNG_SIGNATURE, PNG_IEND = b"\x89PNG\r\n\x1a\n", b"IEND\xaeB`\x82"


def check_complete(data: bytes) -> None:
    """Raise FrameError for a JPEG or PNG that ends before its end marker."""
    # Some cameras pad a frame with zero bytes after EOI; that is not a cut.
    if data.startswith(JPEG_SOI) and not data.rstrip(b"\x00").endswith(JPEG_EOI):
        raise FrameError(f"truncated JPEG: no end-of-image marker ({len(data)} bytes)")
    if data.startswith(PNG_SIGNATURE) and not data.endswith(PNG_IEND):
        raise FrameError(f"truncated PNG: no IEND chunk ({len(data)} bytes)")


def decode_jpeg(data: bytes) -> Image:
    """A camera frame (JPEG; PNG and the other formats OpenCV reads for stills), whole."""
    check_complete(data)
    frame = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR)
    if frame is None:
        raise FrameError(f"undecodable frame ({len(data)} bytes)")
    return np.asarray(frame, np.uint8)


# A lane must lie in the picture to be counted: crop_lane fills whatever of its quad lies outside
# with repeated edge pixels (BORDER_REPLICATE), which the model reads, often confidently, as
# shelf. A lane drawn a few pixels over the edge is fine; one mostly or wholly outside (a lanes
# file for another camera, a resolution changed on the camera) is not counted.
MIN_INSIDE: Final = 0.9


def share_inside(quad: Quad, width: int, height: int) -> float:
    """The share of the lane's area inside a width x height picture (lane quads are convex:
    a shelf lane seen in perspective)."""
    lane = np.array(quad, np.float32).reshape(4, 2)
    area = abs(float(cv2.contourArea(lane)))
    if area <= 0:
        return 0.0
    picture = np.array([[0, 0], [width, 0], [width, height], [0, height]], np.float32)
    inside, _ = cv2.intersectConvexConvex(lane, picture)
    return min(1.0, max(0.0, float(inside) / area))


def lanes_outside(frame: Image, lanes: Sequence[Lane]) -> dict[str, str]:
    """The lanes of `lanes` that cannot be counted in `frame`, each with the reason."""
    height, width = frame.shape[:2]
    out: dict[str, str] = {}
    for lane in lanes:
        share = share_inside(lane.quad, width, height)
        if share < MIN_INSIDE:
            out[lane.id] = (f"lane {lane.id} lies {share:.0%} inside the {width}x{height} picture "
                            f"(at least {MIN_INSIDE:.0%} must): check its roi/quad")
    return out


def _is_polled(url: str) -> bool:
    return url.startswith(("http://", "https://")) and url.split("?")[0].lower().endswith(
        (".jpg", ".jpeg")
    )


class CameraSource:
    """One camera: reads frames, checks their health, counts lanes in an executor and yields
    observations. `observations()` runs until cancelled; a failing camera yields a CameraStatus
    (available=False) and is retried with backoff, never raised out of the loop."""

    def __init__(
        self,
        config: CameraConfig,
        counter: LaneCounter | None = None,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self.config = config
        require_camera_part()
        # Loading the model verifies its sha256: a bad model fails the gateway at start, clearly.
        self._counter = counter if counter is not None else LaneCounter(config.model_dir)
        self._clock = clock
        self._health = FrameHealth(config.frozen_after_s, config.black_level)
        self._available: bool | None = None
        self._outside: dict[tuple[int, int], dict[str, str]] = {}  # per picture size
        self._lanes_out: set[str] = set()  # lanes reported unavailable, until counted again

    async def observations(self) -> AsyncIterator[Observation]:
        loop = asyncio.get_running_loop()
        # One worker: at most one decode/inference in flight, so a slow CPU drops frames (we
        # fetch the next only after counting this one) instead of queueing them without bound.
        with concurrent.futures.ThreadPoolExecutor(
            1, thread_name_prefix=f"cam-{self.config.id}"
        ) as pool:
            reader = (
                _HttpPoller(self.config)
                if _is_polled(self.config.url)
                else _CvReader(self.config, pool)
            )
            # No jitter: one client on the store's LAN, nobody to spread out from.
            backoff = Backoff(initial=0.5, maximum=30.0, jitter=0.0)
            try:
                while True:
                    try:
                        frame = await reader.read(loop, pool)
                    except CameraError as e:
                        log.warning("camera %s: %s", self.config.id, e)
                        # A bad frame says what is wrong with it; anything else is the link.
                        reason = str(e) if isinstance(e, FrameError) else f"disconnected: {e}"
                        status = self._status(False, reason)
                        if status:
                            yield status
                        await asyncio.sleep(backoff.next_delay())
                        continue
                    backoff.reset()
                    health = await loop.run_in_executor(
                        pool, self._health.check, frame, loop.time()
                    )
                    if not health.ok:
                        status = self._status(False, health.reason)
                        if status:
                            log.warning("camera %s unavailable: %s", self.config.id, health.reason)
                            yield status
                    else:
                        status = self._status(True, "ok")
                        if status:
                            yield status
                        at = self._clock()
                        for gone in self._leaving(frame, at):
                            yield gone
                        lanes = [ln for ln in self.config.lanes if ln.id not in self._lanes_out]
                        try:
                            counts = await loop.run_in_executor(
                                pool, self._counter.count, frame, lanes
                            ) if lanes else []
                        except (cv2.error, RuntimeError, ValueError) as e:
                            # A frame the model cannot take (onnxruntime/OpenCV error): log it,
                            # skip the frame, keep the camera running.
                            log.error("camera %s: counting failed: %s", self.config.id, e)
                            counts = []
                        for lane, (n, conf) in zip(lanes, counts, strict=False):
                            yield LaneCount(lane.id, lane.bin, lane.sku, n, round(conf, 4), at)
                    await asyncio.sleep(self.config.interval_s)
            finally:
                await reader.close(loop, pool)

    def _leaving(self, frame: Image, at: datetime) -> list[LaneUnavailable]:
        """Lanes that lie outside this frame now (LaneUnavailable once, when they go); lanes
        back inside it are counted again."""
        height, width = frame.shape[:2]
        outside = self._outside.get((width, height))
        if outside is None:
            outside = self._outside[(width, height)] = lanes_outside(frame, self.config.lanes)
            for reason in outside.values():
                log.error("camera %s: %s", self.config.id, reason)
        gone = [LaneUnavailable(lane.id, lane.bin, lane.sku, outside[lane.id], at)
                for lane in self.config.lanes if lane.id in outside and lane.id not in self._lanes_out]
        self._lanes_out = set(outside)
        return gone

    def _status(self, available: bool, reason: str) -> CameraStatus | None:
        if self._available == available:
            return None
        self._available = available
        return CameraStatus(self.config.id, available, reason, self._clock())


class _HttpPoller:
    """GET a JPEG snapshot URL each round (aiohttp; decoding goes to the executor)."""

    def __init__(self, config: CameraConfig) -> None:
        import aiohttp

        self._url = config.url
        self._timeout = aiohttp.ClientTimeout(total=config.timeout_s)
        self._session: aiohttp.ClientSession | None = None

    async def read(
        self, loop: asyncio.AbstractEventLoop, pool: concurrent.futures.Executor
    ) -> Image:
        import aiohttp

        if self._session is None:
            self._session = aiohttp.ClientSession(timeout=self._timeout)
        try:
            async with self._session.get(self._url) as resp:
                if resp.status != 200:
                    raise CameraError(f"GET {self._url}: HTTP {resp.status}")
                data = await resp.read()
        except (aiohttp.ClientError, TimeoutError) as e:
            raise CameraError(f"GET {self._url}: {e or type(e).__name__}") from e
        return await loop.run_in_executor(pool, decode_jpeg, data)

    async def close(
        self, loop: asyncio.AbstractEventLoop, pool: concurrent.futures.Executor
    ) -> None:
        if self._session is not None:
            await self._session.close()


class _CvReader:
    """cv2.VideoCapture for MJPEG streams, RTSP, V4L2 devices and files. Every call into the
    capture blocks, so every call goes through the executor."""

    def __init__(self, config: CameraConfig, pool: concurrent.futures.Executor) -> None:
        self._url = config.url
        self._cap: cv2.VideoCapture | None = None

    def _open(self) -> cv2.VideoCapture:
        target: str | int = int(self._url) if self._url.isdigit() else self._url
        cap = cv2.VideoCapture(target)
        if not cap.isOpened():
            cap.release()
            raise CameraError(f"cannot open {self._url}")
        return cap

    def _read(self) -> Image:
        if self._cap is None:
            self._cap = self._open()
        ok, frame = self._cap.read()
        if not ok or frame is None:
            self._cap.release()
            self._cap = None
            raise CameraError(f"no frame from {self._url}")
        return np.asarray(frame, np.uint8)

    async def read(
        self, loop: asyncio.AbstractEventLoop, pool: concurrent.futures.Executor
    ) -> Image:
        return await loop.run_in_executor(pool, self._read)

    async def close(
        self, loop: asyncio.AbstractEventLoop, pool: concurrent.futures.Executor
    ) -> None:
        if self._cap is not None:
            cap, self._cap = self._cap, None
            await loop.run_in_executor(pool, cap.release)
