"""Shelf-camera renderer: draws lanes of pet products as a camera would see them (numpy + OpenCV).

A pure function of (scene, conditions, seed): no clock, no I/O. The camera simulator
(firmware_sim/camera.py) feeds it the store world's bins; models/train.py feeds it random scenes to
make training crops. Both see exactly the same physics, which is the point: the model is trained
and measured on what the simulator serves.

A *lane* is the front row of one shelf bin, `slots` units wide. The camera sees `count` of those
slots filled (units behind the front row are hidden, so the visible count saturates at `slots`).

The image is built in the order light reaches a sensor:
1. the shelf plane, front-on: back panel, shelf boards, products (bags, cans, boxes, pouches, toys
   with the product's colour, a label and its brand), price strips on the board edge, shadows under
   each board;
2. a homography (the camera is never square to the shelf), which also maps every lane's ROI;
3. scene light: brightness, colour temperature, a gradient and vignette, a soft cast shadow, glare;
4. occlusion by a passing hand;
5. optics and sensor: defocus or motion blur, shot and read noise, then JPEG compression.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from typing import Final

import cv2
import numpy as np

PACKAGES: Final = ("bag", "can", "box", "pouch", "toy")
MAX_SLOTS: Final = 8  # the model counts 0..MAX_SLOTS
LANE_MM: Final = 450  # width of one lane on the shelf; slots = units of this product that fit


@dataclass(frozen=True, slots=True)
class Look:
    """What one product looks like: the fields of the world's Product the camera can see."""

    name: str
    brand: str
    package: str  # bag | can | box | pouch | toy
    colour: tuple[int, int, int]  # RGB
    size_mm: tuple[int, int, int]  # width, height, depth


@dataclass(frozen=True, slots=True)
class LaneSpec:
    id: str
    look: Look
    slots: int  # front-row positions, 1..MAX_SLOTS
    count: int  # filled positions, 0..slots
    bin: str | None = None
    sku: str | None = None


@dataclass(frozen=True, slots=True)
class Conditions:
    """Everything about the light, the lens and the sensor for one frame."""

    brightness: float = 1.0  # global gain
    colour_temp: float = 0.0  # -1 warm (tungsten) .. +1 cool (daylight)
    gradient: float = 0.0  # light fall-off across the frame, 0..0.6
    vignette: float = 0.2
    shadow: float = 0.0  # strength of a soft cast shadow (a shopper), 0..0.6
    glare: float = 0.0  # strength of a specular hot spot, 0..1
    hand: bool = False  # a hand passes in front of the shelf
    perspective: float = 0.05  # homography strength (fraction of frame)
    blur: float = 0.0  # Gaussian defocus sigma in pixels at 1080p
    motion: float = 0.0  # motion blur length in pixels at 1080p
    noise: float = 2.0  # read-noise sigma in 8-bit levels
    jpeg_quality: int = 85


@dataclass(frozen=True, slots=True)
class LaneTruth:
    id: str
    bin: str | None
    sku: str | None
    quad: tuple[tuple[float, float], ...]  # ROI corners in frame pixels: TL, TR, BR, BL
    slots: int
    count: int
    occluded: float  # share of the ROI covered by a hand, 0..1


@dataclass(frozen=True, slots=True)
class Frame:
    jpeg: bytes
    lanes: tuple[LaneTruth, ...]
    size: tuple[int, int]  # width, height
    conditions: Conditions = field(default_factory=Conditions)


# A small catalog for training and for a camera without a world: the same fields as the world's
# Product (firmware_sim/world.py). Sizes in mm (w, h, d); colours RGB.
CATALOG: Final[tuple[Look, ...]] = (
    Look("Indoor Adult Cat 2 kg", "Royal Canin", "bag", (200, 40, 50), (200, 300, 90)),
    Look("Salmon Kibble 1.5 kg", "Purina", "bag", (30, 60, 140), (180, 280, 80)),
    Look("Original Cat 1.8 kg", "Orijen", "bag", (240, 240, 230), (190, 290, 85)),
    Look("Tofu Litter 6 L", "Catit", "bag", (150, 200, 160), (250, 330, 100)),
    Look("Tuna in Jelly 85 g", "Whiskas", "pouch", (120, 40, 140), (90, 130, 10)),
    Look("Chicken Treats 50 g", "Orijen", "pouch", (210, 120, 30), (120, 170, 30)),
    Look("Chicken Chunks 400 g", "Pedigree", "can", (230, 200, 30), (75, 110, 75)),
    Look("Lamb Recipe 185 g", "Ziwi Peak", "can", (40, 110, 60), (65, 80, 65)),
    Look("Dental Sticks 180 g", "Pedigree", "box", (240, 210, 40), (160, 90, 40)),
    Look("Salmon Oil 250 ml", "Grizzly", "box", (250, 140, 60), (70, 180, 70)),
    Look("Classic Chew Toy M", "Kong", "toy", (220, 30, 30), (70, 90, 70)),
    Look("Rope Ball", "Trixie", "toy", (60, 160, 200), (80, 80, 80)),
)


def slots_for(look: Look, lane_mm: int = LANE_MM) -> int:
    """How many units of this product stand side by side in one lane's front row."""
    return max(1, min(MAX_SLOTS, lane_mm // max(1, look.size_mm[0])))


# The shapes (height / width of the front face) `random_look` draws for each package, and so the
# shapes the counter is trained on. Each range covers every product of its package a camera can
# show (firmware_sim/world.py's catalog and CATALOG above: tests/camera/test_render.py checks) with
# a margin: the flat wide carton of a bowl (Petkit, 0.44), the tall card of a feather wand (5.0),
# a flat tin (0.4). A narrower range taught the counter that a short unit means many units (unit
# height falls with the facings in a lane), and it read a lane of two flat boxes as 5 or 6.
ASPECTS: Final[dict[str, tuple[float, float]]] = {
    "bag": (0.9, 2.0),
    "can": (0.35, 1.7),
    "box": (0.25, 3.0),
    "pouch": (0.9, 1.8),
    "toy": (0.5, 5.5),
}


def aspect_of(look: Look) -> float:
    """Height over width of the unit's front face."""
    return look.size_mm[1] / max(1, look.size_mm[0])


def random_look(rng: np.random.Generator) -> Look:
    """A product that exists nowhere: random package, colour, size and brand text."""
    package = PACKAGES[int(rng.integers(len(PACKAGES)))]
    w = int(rng.integers(45, 260))
    low, high = ASPECTS[package]
    h = int(w * math.exp(rng.uniform(math.log(low), math.log(high))))  # ratios: even in log
    colour = tuple(int(c) for c in rng.integers(0, 256, 3))
    letters = "ABCDEFGHIJKLMNOPRSTUVWZ"
    brand = "".join(letters[int(i)] for i in rng.integers(0, len(letters), int(rng.integers(3, 8))))
    return Look(brand.title(), brand.title(), package, colour, (w, h, max(10, w // 2)))  # type: ignore[arg-type]


def random_conditions(rng: np.random.Generator, profile: str = "train") -> Conditions:
    """Draw lighting/optics. `heldout` uses brightness, colour-temperature and blur bands that
    `train` never draws (train: gaps at 0.8-1.0 brightness, 0.9-1.3 px blur, ±0.2 colour temp),
    so measured accuracy is on settings the model has not seen. `hard` extrapolates beyond them."""

    def pick_bands(bands: Sequence[tuple[float, float]]) -> float:
        lo, hi = bands[int(rng.integers(len(bands)))]
        return float(rng.uniform(lo, hi))

    if profile == "train":
        brightness = pick_bands([(0.45, 0.8), (1.0, 1.5)])
        temp = pick_bands([(-1.0, -0.2), (0.2, 1.0)])
        blur = pick_bands([(0.0, 0.9), (1.3, 2.4)])
    elif profile == "heldout":
        brightness = float(rng.uniform(0.8, 1.0))
        temp = float(rng.uniform(-0.2, 0.2))
        blur = float(rng.uniform(0.9, 1.3))
    elif profile == "hard":
        brightness = pick_bands([(0.3, 0.45), (1.5, 1.8)])
        temp = pick_bands([(-1.0, -0.8), (0.8, 1.0)])
        blur = float(rng.uniform(2.4, 3.2))
    else:
        raise ValueError(f"unknown profile {profile!r}")
    return Conditions(
        brightness=brightness,
        colour_temp=temp,
        gradient=float(rng.uniform(0.0, 0.5)),
        vignette=float(rng.uniform(0.0, 0.4)),
        shadow=float(rng.uniform(0.0, 0.5)) if rng.random() < 0.5 else 0.0,
        glare=float(rng.uniform(0.3, 0.9)) if rng.random() < 0.4 else 0.0,
        hand=bool(rng.random() < 0.1),
        perspective=float(rng.uniform(0.0, 0.08)),
        blur=blur,
        motion=float(rng.uniform(0.0, 8.0)) if rng.random() < 0.2 else 0.0,
        noise=float(rng.uniform(1.0, 7.0)),
        jpeg_quality=int(rng.integers(40, 95)),
    )


def grid(n: int) -> tuple[int, int]:
    """Shelf rows and lanes per row for n lanes (20 lanes -> 4 shelves of 5)."""
    rows = max(1, min(6, round(math.sqrt(n / 1.25))))
    return rows, math.ceil(n / rows)


# --- drawing the shelf plane -------------------------------------------------------------


def _bgr(rgb: tuple[int, int, int], k: float = 1.0) -> tuple[int, int, int]:
    r, g, b = rgb
    return (int(np.clip(b * k, 0, 255)), int(np.clip(g * k, 0, 255)), int(np.clip(r * k, 0, 255)))


def _accent(rgb: tuple[int, int, int]) -> tuple[int, int, int]:
    """A contrasting colour for label bands: light on dark packs, dark on light ones."""
    lum = 0.3 * rgb[0] + 0.59 * rgb[1] + 0.11 * rgb[2]
    return (235, 235, 225) if lum < 128 else (35, 30, 40)


def _label(
    img: np.ndarray, x: int, y: int, w: int, h: int, look: Look, rng: np.random.Generator
) -> None:
    """A label panel with the brand in text and a logo disc."""
    if w < 6 or h < 6:
        return
    accent = _accent(look.colour)
    cv2.rectangle(img, (x, y), (x + w, y + h), _bgr(accent), -1)
    scale = max(0.2, min(w / (len(look.brand) * 20.0 + 1), h / 30.0))
    cv2.putText(
        img,
        look.brand[:10],
        (x + 2, y + int(h * 0.6)),
        cv2.FONT_HERSHEY_SIMPLEX,
        scale,
        _bgr(look.colour, 0.8),
        max(1, int(scale * 2)),
        cv2.LINE_AA,
    )
    if h > 14 and rng.random() < 0.7:
        r = max(2, h // 5)
        cv2.circle(img, (x + w - r - 2, y + h - r - 2), r, _bgr(look.colour, 1.2), -1, cv2.LINE_AA)


def _draw_unit(
    img: np.ndarray, x: int, y_bottom: int, w: int, h: int, look: Look, rng: np.random.Generator
) -> None:
    """One unit standing on the board, its bottom-left corner at (x, y_bottom)."""
    base = _bgr(look.colour)
    y = y_bottom - h
    pkg = look.package
    if pkg == "bag":
        # A kibble bag: body, crimped top seal, a bulge highlight, front label.
        seal = max(3, h // 12)
        cv2.rectangle(img, (x, y + seal), (x + w, y_bottom), base, -1)
        pts = [(x + int(i * w / 8), y + (0 if i % 2 == 0 else seal)) for i in range(9)]
        cv2.fillPoly(
            img,
            [np.array([*pts, (x + w, y + seal * 2), (x, y + seal * 2)], np.int32)],
            _bgr(look.colour, 0.7),
        )
        cv2.line(
            img,
            (x + w // 3, y + seal * 2),
            (x + w // 4, y_bottom - 2),
            _bgr(look.colour, 1.25),
            max(1, w // 20),
        )
        _label(img, x + w // 8, y + h // 3, w * 3 // 4, h // 3, look, rng)
    elif pkg == "can":
        # A cylinder: shaded across its width (Lambertian fall-off), rim ellipse, label band.
        rim = max(2, w // 8)
        xs = np.linspace(-1, 1, max(1, w))
        shade = 0.55 + 0.5 * np.sqrt(np.clip(1 - xs**2, 0, 1))
        col = np.array(base, np.float32)[None, :] * shade[:, None]
        img[max(0, y + rim) : y_bottom, x : x + w] = np.clip(col, 0, 255).astype(np.uint8)[
            None, : img[max(0, y + rim) : y_bottom, x : x + w].shape[1]
        ]
        cv2.ellipse(
            img, (x + w // 2, y + rim), (w // 2, rim), 0, 0, 360, (190, 190, 195), -1, cv2.LINE_AA
        )
        cv2.ellipse(
            img, (x + w // 2, y + rim), (w // 2, rim), 0, 0, 360, (110, 110, 115), 1, cv2.LINE_AA
        )
        band_y = y + rim + (h - rim) // 3
        _label(img, x + 1, band_y, w - 2, (h - rim) // 3, look, rng)
        cv2.line(img, (x, y + rim), (x, y_bottom), _bgr(look.colour, 0.4), 1)
        cv2.line(img, (x + w - 1, y + rim), (x + w - 1, y_bottom), _bgr(look.colour, 0.4), 1)
    elif pkg == "box":
        # A carton seen a little from the side: front face, darker side face, label.
        side = max(2, w // 7)
        cv2.rectangle(img, (x, y + side), (x + w - side, y_bottom), base, -1)
        cv2.fillPoly(
            img,
            [
                np.array(
                    [
                        (x + w - side, y + side),
                        (x + w, y),
                        (x + w, y_bottom - side),
                        (x + w - side, y_bottom),
                    ],
                    np.int32,
                )
            ],
            _bgr(look.colour, 0.6),
        )
        cv2.fillPoly(
            img,
            [
                np.array(
                    [(x, y + side), (x + side, y), (x + w, y), (x + w - side, y + side)], np.int32
                )
            ],
            _bgr(look.colour, 1.2),
        )
        _label(img, x + (w - side) // 8, y + h // 3, (w - side) * 3 // 4, h // 4, look, rng)
        cv2.rectangle(img, (x, y + side), (x + w - side, y_bottom), _bgr(look.colour, 0.45), 1)
    elif pkg == "pouch":
        # A stand-up pouch: narrow top with a tear notch, wider rounded bottom, glossy stripe.
        pts = np.array(
            [
                (x + w // 10, y),
                (x + w - w // 10, y),
                (x + w, y_bottom - h // 8),
                (x + w - w // 12, y_bottom),
                (x + w // 12, y_bottom),
                (x, y_bottom - h // 8),
            ],
            np.int32,
        )
        cv2.fillPoly(img, [pts], base, cv2.LINE_AA)
        cv2.polylines(img, [pts], True, _bgr(look.colour, 0.5), 1, cv2.LINE_AA)
        cv2.line(
            img,
            (x + w // 10, y + h // 10),
            (x + w - w // 10, y + h // 10),
            _bgr(look.colour, 0.6),
            1,
        )
        cv2.line(
            img,
            (x + w * 2 // 3, y + h // 6),
            (x + w * 3 // 4, y_bottom - h // 5),
            (240, 240, 240),
            max(1, w // 18),
        )
        _label(img, x + w // 6, y + h * 2 // 5, w * 2 // 3, h // 4, look, rng)
    else:
        # A toy on a hanger card: a card back and a ball or bone shape in front of it.
        cv2.rectangle(img, (x + w // 8, y), (x + w - w // 8, y_bottom), (220, 225, 230), -1)
        cv2.rectangle(img, (x + w // 8, y), (x + w - w // 8, y_bottom), (120, 120, 130), 1)
        cv2.circle(img, (x + w // 2, y + max(3, h // 12)), max(2, w // 12), (60, 60, 60), -1)
        cx, cy = x + w // 2, y + h * 3 // 5
        if look.size_mm[1] > look.size_mm[0] * 1.2:
            cv2.ellipse(
                img, (cx, cy), (max(2, w // 4), max(3, h // 3)), 0, 0, 360, base, -1, cv2.LINE_AA
            )
        else:
            cv2.circle(img, (cx, cy), max(3, min(w, h) // 3), base, -1, cv2.LINE_AA)
        cv2.circle(
            img,
            (cx - w // 10, cy - h // 10),
            max(1, w // 14),
            _bgr(look.colour, 1.5),
            -1,
            cv2.LINE_AA,
        )
        cv2.putText(
            img,
            look.brand[:6],
            (x + w // 6, y + h // 4),
            cv2.FONT_HERSHEY_SIMPLEX,
            max(0.2, w / 160),
            (40, 40, 60),
            1,
            cv2.LINE_AA,
        )


@dataclass(frozen=True, slots=True)
class _Rngs:
    """Where each random choice comes from. Without a layout seed every draw comes from one
    generator (training: every frame a new shelf). With one, the shelf geometry, product
    placement and labels come from generators keyed by (layout seed, lane, count), so a fixed
    camera sees the same shelf frame after frame and a unit only moves when the count changes;
    light, noise and small jitter still change every frame."""

    frame: np.random.Generator
    layout_seed: int | None = None

    def shelf(self) -> np.random.Generator:
        return self.frame if self.layout_seed is None else np.random.default_rng([self.layout_seed])

    def lane(self, i: int) -> np.random.Generator:
        return (
            self.frame
            if self.layout_seed is None
            else np.random.default_rng([self.layout_seed, i, 1])
        )

    def slots(self, i: int, count: int) -> np.random.Generator:
        return (
            self.frame
            if self.layout_seed is None
            else np.random.default_rng([self.layout_seed, i, 2, count])
        )

    def units(self, i: int) -> np.random.Generator:
        return (
            self.frame
            if self.layout_seed is None
            else np.random.default_rng([self.layout_seed, i, 3])
        )

    def camera(self) -> np.random.Generator:
        return (
            self.frame
            if self.layout_seed is None
            else np.random.default_rng([self.layout_seed, 0, 4])
        )


def _shelf_plane(
    lanes: Sequence[LaneSpec], size: tuple[int, int], rngs: _Rngs
) -> tuple[np.ndarray, list[tuple[float, float, float, float]]]:
    """Front-on image of the whole shelf and each lane's rectangle (x0, y0, x1, y1)."""
    rng = rngs.shelf()
    width, height = size
    rows, per_row = grid(len(lanes))
    back = np.array(rng.integers(150, 235, 3), np.float32)
    img = np.empty((height, width, 3), np.uint8)
    # Pegboard holes: a texture with its own rhythm, so the net cannot count holes as products.
    pitch = int(rng.integers(18, 40))
    tile = np.empty((pitch, pitch, 3), np.uint8)
    tile[:] = back.astype(np.uint8)
    cv2.circle(
        tile, (pitch // 2, pitch // 2), max(1, pitch // 9), tuple(int(c) for c in back * 0.6), -1
    )
    img[:] = np.tile(tile, (height // pitch + 1, width // pitch + 1, 1))[:height, :width]
    margin_x = width * float(rng.uniform(0.02, 0.06))
    margin_y = height * float(rng.uniform(0.02, 0.05))
    row_h = (height - 2 * margin_y) / rows
    board = max(8, int(row_h * rng.uniform(0.1, 0.16)))
    lane_w = (width - 2 * margin_x) / per_row
    board_col = tuple(int(c) for c in rng.integers(60, 230, 3))
    rects: list[tuple[float, float, float, float]] = []
    for i, lane in enumerate(lanes):
        rng = rngs.lane(i)
        r, c = divmod(i, per_row)
        x0, x1 = margin_x + c * lane_w, margin_x + (c + 1) * lane_w
        y0 = margin_y + r * row_h
        y_floor = int(y0 + row_h - board)
        rects.append((x0 + 2, y0 + 4, x1 - 2, y_floor + board * 0.5))
        # Shadow of the board above onto the top of this compartment (soft, strongest at the top).
        depth = int(row_h * 0.3)
        ys = np.arange(depth, dtype=np.float32)
        fall = (1.0 - 0.35 * (1 - ys / depth))[:, None, None]
        ya, yb = int(y0), min(int(y0) + depth, height)
        xa, xb = int(x0), int(x1)
        img[ya:yb, xa:xb] = (img[ya:yb, xa:xb].astype(np.float32) * fall[: yb - ya]).astype(
            np.uint8
        )
        # Units: scale so a full front row fills 80-95 % of the lane and fits its height.
        look = lane.look
        avail_w, avail_h = (x1 - x0) - 8, (y_floor - y0) - 10
        fill = float(rng.uniform(0.8, 0.95))
        unit_w = avail_w * fill / lane.slots
        unit_h = unit_w * look.size_mm[1] / max(1, look.size_mm[0])
        if unit_h > avail_h * 0.92:
            unit_h = avail_h * float(rng.uniform(0.75, 0.92))
            unit_w = min(unit_w, unit_h * look.size_mm[0] / max(1, look.size_mm[1]))
            unit_w = max(unit_w, avail_w * 0.5 / lane.slots)
        gap = (avail_w - unit_w * lane.slots) / lane.slots
        pick = rngs.slots(i, lane.count)
        filled = (
            sorted(pick.choice(lane.slots, size=lane.count, replace=False).tolist())
            if lane.count
            else []
        )
        units, frm = rngs.units(i), rngs.frame
        for s in filled:
            jitter_x = float(frm.uniform(-0.3, 0.3)) * gap
            wj = int(unit_w * units.uniform(0.96, 1.02))
            hj = int(unit_h * units.uniform(0.96, 1.02))
            ux = int(x0 + 4 + gap / 2 + s * (unit_w + gap) + jitter_x)
            _draw_unit(
                img, ux, y_floor - int(units.integers(0, 3)), max(4, wj), max(4, hj), look, units
            )
        # The board edge and its price strip, which hides the bottom few pixels of every unit.
        cv2.rectangle(img, (int(x0), y_floor), (int(x1), y_floor + board), board_col, -1)
        cv2.line(
            img, (int(x0), y_floor), (int(x1), y_floor), tuple(int(v * 0.6) for v in board_col), 2
        )
        strip_h = max(4, int(board * rng.uniform(0.5, 0.9)))
        tag_w = int(lane_w * rng.uniform(0.15, 0.3))
        tag_x = int(x0 + rng.uniform(0.05, 0.6) * lane_w)
        ty = y_floor - int(strip_h * rng.uniform(0.0, 0.4))
        cv2.rectangle(img, (tag_x, ty), (tag_x + tag_w, ty + strip_h), (250, 250, 250), -1)
        cv2.rectangle(img, (tag_x, ty), (tag_x + tag_w // 3, ty + strip_h), (30, 30, 200), -1)
        cv2.putText(
            img,
            f"{rng.integers(1, 400)}.{rng.integers(0, 99):02d}",
            (tag_x + tag_w // 3 + 2, ty + strip_h - 2),
            cv2.FONT_HERSHEY_SIMPLEX,
            max(0.2, strip_h / 30),
            (20, 20, 20),
            1,
            cv2.LINE_AA,
        )
    return img, rects


def _homography(size: tuple[int, int], strength: float, rng: np.random.Generator) -> np.ndarray:
    width, height = size
    src = np.array([[0, 0], [width, 0], [width, height], [0, height]], np.float32)
    jitter = rng.uniform(-strength, strength, (4, 2)) * np.array([width, height])
    # Keep the shelf inside the frame: move corners inwards more than outwards.
    inward = (
        np.array([[1, 1], [-1, 1], [-1, -1], [1, -1]]) * strength * 0.5 * np.array([width, height])
    )
    dst = (src + jitter + inward).astype(np.float32)
    return cv2.getPerspectiveTransform(src, dst)


def _soft_mask(
    size: tuple[int, int], centre: tuple[float, float], axes: tuple[float, float], angle: float
) -> np.ndarray:
    """A feathered ellipse (0..1) of the given frame size. Light is smooth, so it is drawn at 1/8
    resolution and scaled up, which keeps a 1080p frame cheap."""
    width, height = size
    mask = np.zeros((height, width), np.uint8)
    cv2.ellipse(
        mask,
        (int(centre[0]), int(centre[1])),
        (max(1, int(axes[0])), max(1, int(axes[1]))),
        angle,
        0,
        360,
        255,
        -1,
    )
    k = int(max(axes) * 0.6) | 1
    return cv2.GaussianBlur(mask, (k, k), 0).astype(np.float32) / 255.0


def _draw_hand(img: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """A hand and forearm reaching in from the frame edge; returns its mask."""
    height, width = img.shape[:2]
    mask = np.zeros((height, width), np.uint8)
    skin = tuple(int(c) for c in rng.integers([90, 120, 160], [150, 180, 230]))  # BGR
    sleeve = tuple(int(c) for c in rng.integers(0, 255, 3))
    hx, hy = float(rng.uniform(0.15, 0.85)) * width, float(rng.uniform(0.2, 0.8)) * height
    side = rng.choice([-1, 1])
    scale = height * float(rng.uniform(0.04, 0.08))
    arm_end = (int(hx + side * width), int(hy + rng.uniform(-0.3, 0.3) * height))
    cv2.line(img, (int(hx), int(hy)), arm_end, sleeve, int(scale * 1.2))
    cv2.line(mask, (int(hx), int(hy)), arm_end, 255, int(scale * 1.2))
    cv2.ellipse(
        img, (int(hx), int(hy)), (int(scale), int(scale * 0.8)), 0, 0, 360, skin, -1, cv2.LINE_AA
    )
    cv2.ellipse(mask, (int(hx), int(hy)), (int(scale), int(scale * 0.8)), 0, 0, 360, 255, -1)
    for f in range(4):
        angle = math.radians(-40 + f * 25) + (math.pi if side > 0 else 0)
        tip = (int(hx + math.cos(angle) * scale * 1.9), int(hy + math.sin(angle) * scale * 1.9))
        cv2.line(img, (int(hx), int(hy)), tip, skin, max(2, int(scale * 0.3)), cv2.LINE_AA)
        cv2.line(mask, (int(hx), int(hy)), tip, 255, max(2, int(scale * 0.3)))
    return mask


def _light(img: np.ndarray, cond: Conditions, rng: np.random.Generator) -> np.ndarray:
    height, width = img.shape[:2]
    # The light field is smooth: compute it at 1/8 resolution and scale it up.
    sw, sh = max(2, width // 8), max(2, height // 8)
    t = cond.colour_temp
    gains = np.array([1.0 + 0.25 * t, 1.0, 1.0 - 0.25 * t], np.float32)  # BGR; warm = more red
    yy, xx = np.mgrid[0:sh, 0:sw].astype(np.float32)
    direction = rng.uniform(0, 2 * math.pi)
    ramp = np.cos(direction) * (xx / sw - 0.5) + np.sin(direction) * (yy / sh - 0.5)
    light = cond.brightness * (1.0 + cond.gradient * ramp)
    light *= 1.0 - cond.vignette * ((xx / sw - 0.5) ** 2 + (yy / sh - 0.5) ** 2) / 0.5
    if cond.shadow > 0:
        m = _soft_mask(
            (sw, sh),
            (rng.uniform(0, sw), rng.uniform(0, sh)),
            (rng.uniform(0.1, 0.4) * sw, rng.uniform(0.2, 0.6) * sh),
            rng.uniform(0, 180),
        )
        light *= 1.0 - cond.shadow * m
    glare = np.zeros((sh, sw), np.float32)
    if cond.glare > 0:
        m = _soft_mask(
            (sw, sh),
            (rng.uniform(0, sw), rng.uniform(0, sh)),
            (rng.uniform(0.03, 0.15) * sw, rng.uniform(0.03, 0.12) * sh),
            rng.uniform(0, 180),
        )
        glare = cond.glare * 255.0 * m
    light = cv2.resize(light.astype(np.float32), (width, height), interpolation=cv2.INTER_LINEAR)
    out = img.astype(np.float32) * light[..., None] * gains[None, None, :]
    if cond.glare > 0:
        out += cv2.resize(glare, (width, height), interpolation=cv2.INTER_LINEAR)[..., None]
    return out


def _optics(img: np.ndarray, cond: Conditions, rng: np.random.Generator) -> np.ndarray:
    height = img.shape[0]
    k = height / 1080.0  # blur and noise settings are specified at 1080p
    if cond.blur * k > 0.3:
        img = cv2.GaussianBlur(img, (0, 0), cond.blur * k)
    length = int(cond.motion * k)
    if length >= 2:
        kernel = np.zeros((length, length), np.float32)
        kernel[length // 2, :] = 1.0 / length
        rot = cv2.getRotationMatrix2D(
            (length / 2 - 0.5, length / 2 - 0.5), float(rng.uniform(0, 180)), 1.0
        )
        kernel = cv2.warpAffine(kernel, rot, (length, length))
        img = cv2.filter2D(img, -1, kernel / max(kernel.sum(), 1e-6))
    # Sensor: shot noise grows with signal, read noise is flat.
    shot = np.sqrt(np.clip(img, 0, 255) / 255.0) * cond.noise
    img = img + rng.standard_normal(img.shape, dtype=np.float32) * (cond.noise * 0.6 + shot)
    return np.clip(img, 0, 255).astype(np.uint8)


def render(
    lanes: Sequence[LaneSpec],
    cond: Conditions,
    seed: int,
    size: tuple[int, int] = (1920, 1080),
    layout_seed: int | None = None,
) -> tuple[np.ndarray, tuple[LaneTruth, ...]]:
    """Render one frame (BGR uint8, before JPEG) and the truth for every lane. `layout_seed`
    fixes the shelf and camera pose across frames (a mounted camera); `seed` varies the rest."""
    if not lanes:
        raise ValueError("a shelf needs at least one lane")
    for lane in lanes:
        if not 1 <= lane.slots <= MAX_SLOTS or not 0 <= lane.count <= lane.slots:
            raise ValueError(
                f"lane {lane.id}: count {lane.count} / slots {lane.slots} out of range"
            )
    rng = np.random.default_rng(seed)
    rngs = _Rngs(rng, layout_seed)
    plane, rects = _shelf_plane(lanes, size, rngs)
    pose = rngs.camera()
    h = _homography(size, cond.perspective, pose)
    border = tuple(int(c) for c in pose.integers(20, 90, 3))
    img = cv2.warpPerspective(plane, h, size, flags=cv2.INTER_LINEAR, borderValue=border)
    quads = []
    for x0, y0, x1, y1 in rects:
        corners = np.array([[[x0, y0]], [[x1, y0]], [[x1, y1]], [[x0, y1]]], np.float32)
        quads.append(cv2.perspectiveTransform(corners, h).reshape(4, 2))
    lit = _light(img, cond, rng)
    hand_mask = None
    if cond.hand:
        hand_layer = np.clip(lit, 0, 255).astype(np.uint8)
        hand_mask = _draw_hand(hand_layer, rng)
        lit = np.where(
            hand_mask[..., None] > 0, hand_layer.astype(np.float32) * cond.brightness, lit
        )
    out = _optics(lit, cond, rng)
    truths = []
    for lane, quad in zip(lanes, quads, strict=True):
        occluded = 0.0
        if hand_mask is not None:
            poly = np.zeros(hand_mask.shape, np.uint8)
            cv2.fillConvexPoly(poly, quad.astype(np.int32), 255)
            area = max(1, int(np.count_nonzero(poly)))
            occluded = float(np.count_nonzero(poly & hand_mask)) / area
        truths.append(
            LaneTruth(
                lane.id,
                lane.bin,
                lane.sku,
                tuple((float(x), float(y)) for x, y in quad),
                lane.slots,
                lane.count,
                round(occluded, 3),
            )
        )
    return out, tuple(truths)


def encode_jpeg(img: np.ndarray, quality: int) -> bytes:
    ok, buf = cv2.imencode(".jpg", img, [cv2.IMWRITE_JPEG_QUALITY, int(quality)])
    if not ok:
        raise RuntimeError("JPEG encoding failed")
    return buf.tobytes()


def render_jpeg(
    lanes: Sequence[LaneSpec],
    cond: Conditions,
    seed: int,
    size: tuple[int, int] = (1920, 1080),
    layout_seed: int | None = None,
) -> Frame:
    img, truths = render(lanes, cond, seed, size, layout_seed)
    return Frame(encode_jpeg(img, cond.jpeg_quality), truths, size, cond)


def random_shelf(
    rng: np.random.Generator,
    n: int,
    catalog: Sequence[Look] | None = None,
    empty_share: float = 0.2,
) -> list[LaneSpec]:
    """Random lanes for training and evaluation: every count 0..slots, with extra empty lanes
    (an empty facing is the case that matters most to the shop)."""
    lanes = []
    for i in range(n):
        if catalog is not None and rng.random() < 0.5:
            look = catalog[int(rng.integers(len(catalog)))]
        else:
            look = random_look(rng)
        slots = int(rng.integers(1, MAX_SLOTS + 1))
        look = replace(
            look,
            size_mm=(
                max(20, LANE_MM // slots - int(rng.integers(0, 15))),
                look.size_mm[1] * max(20, LANE_MM // slots) // max(1, look.size_mm[0]),
                look.size_mm[2],
            ),
        )
        count = 0 if rng.random() < empty_share else int(rng.integers(0, slots + 1))
        lanes.append(LaneSpec(f"L{i + 1}", look, slots, count))
    return lanes
