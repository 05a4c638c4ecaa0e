"""Features of one product photo for re-ranking: dominant colours, lightness, silhouette, sleeves, pattern.

Pure functions of pixels (and, for on-model photos, pose landmarks), so tests check them on constructed
images. `extract` returns a typed GarmentFeatures stored with the product in MongoDB under
`features`, stamped with a version (EXTRACTOR_VERSION and the attribute model's): a new version makes the
catalog recompute them. Sleeve and garment length come from the learned attribute model
(core/attributes.py) when it is there (`with_attributes`); the geometric sleeve estimate here is its
baseline and the fallback without it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass, replace

import numpy as np
from PIL import Image

from core.look.pose import VISIBLE, Landmark

EXTRACTOR_VERSION = 2
SIDE = 96  # features are read from a SIDE x SIDE copy
SLEEVES = ("none", "short", "elbow", "long")
COLOURS = 3  # dominant colours kept


@dataclass(frozen=True)
class GarmentFeatures:
    colours: tuple[tuple[tuple[int, int, int], float], ...]  # dominant RGB colours and their shares, largest first
    lightness: float  # mean CIE L* of the garment pixels, 0 (black) .. 1 (white)
    box: tuple[float, float, float, float]  # silhouette box x1, y1, x2, y2 as fractions of the photo
    aspect: float  # silhouette width / height
    fill: float  # share of the silhouette box covered by the garment
    sleeves: str | None  # one of SLEEVES; None when it cannot be told (or no sleeves to speak of)
    pattern: float  # 0 plain .. 1 busy (edge density inside the garment)
    version: int | str = EXTRACTOR_VERSION
    sleeve_confidence: float = 0.0  # the attribute model's probability of `sleeves` (0: geometric estimate)
    length: str | None = None  # on its family's scale (core/attributes.LENGTHS); None: not read
    length_confidence: float = 0.0

    def to_doc(self) -> dict:
        doc = asdict(self)
        doc["colours"] = [{"rgb": list(rgb), "share": share} for rgb, share in self.colours]
        doc["box"] = list(self.box)
        return doc

    @classmethod
    def from_doc(cls, doc: dict) -> GarmentFeatures:
        colours = tuple((tuple(c["rgb"]), c["share"]) for c in doc["colours"])
        return cls(
            colours,
            doc["lightness"],
            tuple(doc["box"]),
            doc["aspect"],
            doc["fill"],  # type: ignore[arg-type]
            doc["sleeves"],
            doc["pattern"],
            doc.get("version", 0),
            doc.get("sleeve_confidence", 0.0),
            doc.get("length"),
            doc.get("length_confidence", 0.0),
        )

    def with_attributes(self, attributes, version: str) -> GarmentFeatures:
        """These features with sleeves and length read by the attribute model (a core.attributes.Attributes)."""
        return replace(
            self,
            sleeves=attributes.sleeves,
            sleeve_confidence=round(attributes.sleeve_confidence, 4),
            length=attributes.length,
            length_confidence=round(attributes.length_confidence, 4),
            version=version,
        )


def foreground(rgb: np.ndarray) -> np.ndarray:
    """Pixels that are not the white studio background ([H, W, 3] floats in 0..1 -> [H, W] bool);
    the whole image when that leaves too little (a photo without a white background)."""
    mask = (1.0 - rgb.min(axis=2)) > 0.08
    return mask if mask.mean() > 0.03 else np.ones(mask.shape, dtype=bool)


def hex_colour(rgb: Sequence[int]) -> str:
    """(r, g, b) 0..255 -> "#rrggbb", as JSON outputs write colours."""
    r, g, b = (int(v) for v in rgb)
    return f"#{r:02x}{g:02x}{b:02x}"


def lightness(image: Image.Image) -> float:
    """How light a garment photo is: the mean CIE L* of its garment pixels, 0 (black) .. 1 (white). The one
    definition of lightness: stored features, re-ranking, chips and training's "lighter" / "darker" use it."""
    rgb = np.asarray(image.convert("RGB").resize((SIDE, SIDE), Image.Resampling.BILINEAR), dtype=np.float32) / 255
    return float(rgb_to_lab(rgb)[..., 0][foreground(rgb)].mean() / 100)


def extract(image: Image.Image, landmarks: Sequence[Landmark] | None = None) -> GarmentFeatures:
    """Features of a product photo; `landmarks` (MediaPipe Pose, normalised) when a person wears it."""
    rgb = np.asarray(image.convert("RGB").resize((SIDE, SIDE), Image.Resampling.BILINEAR), dtype=np.float32) / 255
    mask = foreground(rgb)
    lab = rgb_to_lab(rgb)
    box, aspect, fill = silhouette(mask)
    if landmarks:
        sleeves = sleeves_on_model(rgb, landmarks)
    else:
        sleeves = sleeves_from_silhouette(mask)
    return GarmentFeatures(
        dominant_colours(lab[mask]),
        float(lab[..., 0][mask].mean() / 100),
        box,
        aspect,
        fill,
        sleeves,
        pattern_score(lab[..., 0], mask),
    )


# --- colour ---


def rgb_to_lab(rgb: np.ndarray) -> np.ndarray:
    """sRGB in 0..1 ([..., 3]) -> CIE L*a*b* (D65)."""
    linear = np.where(rgb <= 0.04045, rgb / 12.92, ((rgb + 0.055) / 1.055) ** 2.4)
    xyz = linear @ np.array(
        [[0.4124, 0.2126, 0.0193], [0.3576, 0.7152, 0.1192], [0.1805, 0.0722, 0.9505]], dtype=np.float32
    )
    xyz = xyz / np.array([0.95047, 1.0, 1.08883], dtype=np.float32)
    f = np.where(xyz > 0.008856, np.cbrt(xyz), 7.787 * xyz + 16 / 116)
    return np.stack([116 * f[..., 1] - 16, 500 * (f[..., 0] - f[..., 1]), 200 * (f[..., 1] - f[..., 2])], axis=-1)


def lab_to_rgb(lab: np.ndarray) -> np.ndarray:
    """CIE L*a*b* -> sRGB in 0..1 (clipped)."""
    fy = (lab[..., 0] + 16) / 116
    f = np.stack([fy + lab[..., 1] / 500, fy, fy - lab[..., 2] / 200], axis=-1)
    xyz = np.where(f > 0.2069, f**3, (f - 16 / 116) / 7.787) * np.array([0.95047, 1.0, 1.08883])
    linear = xyz @ np.array([[3.2406, -0.9689, 0.0557], [-1.5372, 1.8758, -0.2040], [-0.4986, 0.0415, 1.0570]])
    rgb = np.where(linear <= 0.0031308, 12.92 * linear, 1.055 * np.clip(linear, 0, None) ** (1 / 2.4) - 0.055)
    return np.clip(rgb, 0, 1)


def dominant_colours(pixels: np.ndarray, k: int = COLOURS, rounds: int = 12) -> tuple:
    """k-means in L*a*b* over the garment pixels ([N, 3]); ((rgb, share), ...) by falling share.
    Deterministic: starts from pixels spread over the lightness order."""
    if len(pixels) == 0:
        return ()
    k = min(k, len(pixels))
    order = np.argsort(pixels[:, 0])
    centres = pixels[order[np.linspace(0, len(pixels) - 1, k).astype(int)]].astype(np.float64)
    points = pixels.astype(np.float64)
    nearest = None
    for _ in range(rounds):
        distances = sum((points[:, None, c] - centres[None, :, c]) ** 2 for c in range(3))  # [N, k]
        previous, nearest = nearest, np.argmin(distances, axis=1)
        if previous is not None and np.array_equal(previous, nearest):
            break  # converged: the same assignment gives the same centres in every later round
        counts = np.bincount(nearest, minlength=k)
        sums = np.stack([np.bincount(nearest, weights=points[:, c], minlength=k) for c in range(3)], axis=1)
        centres[counts > 0] = sums[counts > 0] / counts[counts > 0, None]
    shares = np.bincount(nearest, minlength=k) / len(pixels)
    rgb = (lab_to_rgb(centres) * 255).round().astype(int)
    ranked = sorted(range(k), key=lambda j: -shares[j])
    return tuple((tuple(int(v) for v in rgb[j]), round(float(shares[j]), 4)) for j in ranked if shares[j] > 0)


# --- silhouette and sleeves ---


def silhouette(mask: np.ndarray) -> tuple[tuple[float, float, float, float], float, float]:
    """Box (fractions), aspect (width / height) and fill of the garment mask."""
    rows, cols = np.nonzero(mask)
    height, width = mask.shape
    y1, y2, x1, x2 = rows.min(), rows.max() + 1, cols.min(), cols.max() + 1
    area = (x2 - x1) * (y2 - y1)
    return (
        (round(x1 / width, 4), round(y1 / height, 4), round(x2 / width, 4), round(y2 / height, 4)),
        round(float((x2 - x1) / (y2 - y1)), 4),
        round(float(mask.sum() / area), 4),
    )


def sleeves_from_silhouette(mask: np.ndarray) -> str | None:
    """Sleeve length of a flat-laid or hanging top on white: how far down the silhouette stays wider than
    the body. The body is the run of garment pixels through the silhouette's centre, its width read over
    the lower half; rows more than 25% wider than that carry sleeves. None when the photo is not a clean
    silhouette (no white background)."""
    if mask.all():
        return None
    rows, cols = np.nonzero(mask)
    top, bottom, centre = rows.min(), rows.max(), int((cols.min() + cols.max()) / 2)
    height = bottom - top + 1
    extents = np.array([_extent(mask[y]) for y in range(top, bottom + 1)], dtype=np.float32)
    bodies = np.array([_run_through(mask[y], centre) for y in range(top, bottom + 1)], dtype=np.float32)
    body = float(np.median(bodies[height // 2 :])) or 1.0
    wide = np.nonzero(extents > 1.25 * body)[0]
    if len(wide) == 0:
        return "none"
    reach = (wide.max() + 1) / height  # how far down the sleeves reach, as a share of the garment's height
    return "short" if reach < 0.45 else "elbow" if reach < 0.7 else "long"


def _extent(row: np.ndarray) -> int:
    found = np.nonzero(row)[0]
    return int(found.max() - found.min() + 1) if len(found) else 0


def _run_through(row: np.ndarray, column: int) -> int:
    """Width of the run of garment pixels covering `column` (0 when that pixel is background)."""
    if not row[column]:
        return 0
    left, right = column, column
    while left > 0 and row[left - 1]:
        left -= 1
    while right < len(row) - 1 and row[right + 1]:
        right += 1
    return right - left + 1


ARMS = ((11, 13, 15), (12, 14, 16))  # shoulder, elbow, wrist (left, right)


def sleeves_on_model(rgb: np.ndarray, landmarks: Sequence[Landmark]) -> str | None:
    """Sleeve length on a person: walk each visible arm from shoulder to elbow to wrist and find where
    bare skin begins (0 = at the shoulder, 0.5 = the elbow, 1 = the wrist; no skin: long sleeves)."""
    skin = skin_mask(rgb)
    ends = [end for arm in ARMS if (end := _skin_starts(skin, [landmarks[i] for i in arm])) is not None]
    if not ends:
        return None
    start = min(ends)
    return "none" if start < 0.12 else "short" if start < 0.42 else "elbow" if start < 0.75 else "long"


def skin_mask(rgb: np.ndarray) -> np.ndarray:
    """Skin-coloured pixels (a YCrCb box that holds for a wide range of skin tones and light)."""
    r, g, b = rgb[..., 0] * 255, rgb[..., 1] * 255, rgb[..., 2] * 255
    y = 0.299 * r + 0.587 * g + 0.114 * b
    cr = (r - y) * 0.713 + 128
    cb = (b - y) * 0.564 + 128
    return (cr > 135) & (cr < 180) & (cb > 85) & (cb < 135) & (y > 40)


def _skin_starts(skin: np.ndarray, arm: list[Landmark], steps: int = 24) -> float | None:
    """Where along shoulder -> elbow -> wrist skin takes over for good; None when the arm is not visible."""
    if any(p.visibility < VISIBLE for p in arm[:2]):
        return None
    points = arm if arm[2].visibility >= VISIBLE else arm[:2]
    size = skin.shape[0]
    samples = []
    for i in range(steps + 1):
        t = i / steps * (len(points) - 1)
        a, b = points[min(int(t), len(points) - 2)], points[min(int(t), len(points) - 2) + 1]
        u = t - min(int(t), len(points) - 2)
        x, y = (a.x + (b.x - a.x) * u) * size, (a.y + (b.y - a.y) * u) * size
        x0, y0 = int(np.clip(x, 1, size - 2)), int(np.clip(y, 1, size - 2))
        samples.append(skin[y0 - 1 : y0 + 2, x0 - 1 : x0 + 2].mean() > 0.5)
    reach = (len(points) - 1) / 2  # the share of the arm the samples cover (to the elbow only: 0.5)
    for i in range(len(samples)):
        if all(samples[i:]):
            return i / steps * reach
    return 1.0 if reach == 1 else None  # covered to the elbow with no wrist in sight: cannot tell elbow/long


# --- pattern ---


def pattern_score(lightness: np.ndarray, mask: np.ndarray) -> float:
    """Share of garment pixels on a strong lightness edge (stripes, checks, prints), 0..1."""
    inner = mask.copy()
    inner[1:-1, 1:-1] &= mask[:-2, 1:-1] & mask[2:, 1:-1] & mask[1:-1, :-2] & mask[1:-1, 2:]
    dy, dx = np.gradient(lightness)
    edges = np.hypot(dx, dy) > 6.0  # L* units per pixel
    return round(float(edges[inner].mean()) if inner.any() else 0.0, 4)
