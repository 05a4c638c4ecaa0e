"""Is a photo a full-length, front-facing shot of a person? A verdict from pose landmarks.

Landmarks follow MediaPipe Pose (33 points, x/y normalised to the image, y downwards, visibility 0..1;
"left" is the person's left). Raw landmarks are not enough: on packshots of shoes the model reports
confident "full bodies". So the verdict combines visibility with geometry: head above shoulders above
hips above knees above ankles, plausible proportions, the body's extent in the frame, and shoulder/hip
width and order for facing the camera. Only the judging lives here; running the model is pose_model's job.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field, replace

Box = tuple[int, int, int, int]  # x1, y1, x2, y2 in pixels

NOSE, LEFT_EAR, RIGHT_EAR = 0, 7, 8
LEFT_SHOULDER, RIGHT_SHOULDER, LEFT_HIP, RIGHT_HIP = 11, 12, 23, 24
LEFT_KNEE, RIGHT_KNEE, LEFT_ANKLE, RIGHT_ANKLE = 25, 26, 27, 28
VISIBLE = 0.5
MARGIN = 0.02  # a point this close to (or past) the edge is cut off
MIN_BODY_HEIGHT = 0.35  # head-to-ankle span as a share of the photo's height
LEG_TO_TORSO = (0.9, 3.2)  # hip->ankle over shoulder->hip, for a standing adult
MIN_SHOULDER_TO_TORSO = 0.3  # narrower shoulders: turned sideways


@dataclass(frozen=True)
class Landmark:
    x: float
    y: float
    visibility: float


@dataclass(frozen=True)
class PoseVerdict:
    full_shot: bool
    front_facing: bool
    reasons: tuple[str, ...]  # why not, in plain words (empty when both are true)
    landmarks: tuple[Landmark, ...] = field(default=(), repr=False)  # normalised to the whole photo
    people: int = 1
    region: Box | None = None  # the part of the photo judged (several people: around the largest); None: all
    person_box: Box | None = None  # the person's extent from the visible landmarks
    face_box: Box | None = None  # the largest face found, in pixels

    def to_json(self) -> dict:
        return {
            "full_shot": self.full_shot,
            "front_facing": self.front_facing,
            "reasons": list(self.reasons),
            "people": self.people,
            "person_box": list(self.person_box) if self.person_box else None,
        }


NOT_A_BODY = ("no body found", "out of order", "implausible")  # full-shot problems that rule out facing


def judge_pose(landmarks: Sequence[Landmark] | None, people: int = 0, aspect: float = 1.0) -> PoseVerdict:
    """The verdict for one person's landmarks (None or empty: no body found; `people` counts the faces
    seen). `aspect` is the photo's width / height, so that widths and heights compare in pixels."""
    crowd = (f"{people} people: using the largest",) if people > 1 else ()
    if not landmarks:
        return PoseVerdict(
            False,
            False,
            crowd + ("no person found",) if not people else crowd + ("no body found (shoulders and hips not visible)",),
            people=people,
        )
    points = tuple(landmarks)
    full = _full_shot_problems(points)
    upright = not any(word in r for r in full for word in NOT_A_BODY)
    front = _front_facing_problems(points, aspect) if upright else []
    return PoseVerdict(not full, upright and not front, crowd + tuple(full + front), points, max(people, 1))


def _seen(point: Landmark) -> bool:
    return point.visibility >= VISIBLE and MARGIN <= point.x <= 1 - MARGIN and MARGIN <= point.y <= 1 - MARGIN


def _mid(a: Landmark, b: Landmark) -> tuple[float, float]:
    return (a.x + b.x) / 2, (a.y + b.y) / 2


def _full_shot_problems(p: Sequence[Landmark]) -> list[str]:
    problems = []
    head = any(_seen(p[i]) for i in (NOSE, LEFT_EAR, RIGHT_EAR))
    shoulders = _seen(p[LEFT_SHOULDER]) and _seen(p[RIGHT_SHOULDER])
    hips = _seen(p[LEFT_HIP]) and _seen(p[RIGHT_HIP])
    if not (shoulders and hips):
        return ["no body found (shoulders and hips not visible)"]
    if not head:
        problems.append("head not visible")
    if not (_seen(p[LEFT_KNEE]) or _seen(p[RIGHT_KNEE])):
        problems.append("legs not visible")
    if not (_seen(p[LEFT_ANKLE]) and _seen(p[RIGHT_ANKLE])):
        problems.append("feet not visible")
    if problems:
        return problems
    shoulder_y = _mid(p[LEFT_SHOULDER], p[RIGHT_SHOULDER])[1]
    hip_y = _mid(p[LEFT_HIP], p[RIGHT_HIP])[1]
    knee_y = _mid(p[LEFT_KNEE], p[RIGHT_KNEE])[1]
    ankle_y = _mid(p[LEFT_ANKLE], p[RIGHT_ANKLE])[1]
    if not p[NOSE].y < shoulder_y < hip_y < knee_y < ankle_y:
        return ["body parts out of order (not an upright person)"]
    torso, legs = hip_y - shoulder_y, ankle_y - hip_y
    if not LEG_TO_TORSO[0] <= legs / torso <= LEG_TO_TORSO[1]:
        return ["implausible body proportions (not a person, or a very unusual pose)"]
    if ankle_y - p[NOSE].y < MIN_BODY_HEIGHT:
        return ["the person is too small in the photo"]
    return []


def _front_facing_problems(p: Sequence[Landmark], aspect: float) -> list[str]:
    left, right = p[LEFT_SHOULDER], p[RIGHT_SHOULDER]
    torso = abs(_mid(p[LEFT_HIP], p[RIGHT_HIP])[1] - _mid(left, right)[1])
    width = abs(left.x - right.x) * aspect  # in photo heights, like the torso
    if torso <= 0 or width / torso < MIN_SHOULDER_TO_TORSO:
        return ["person turned sideways"]
    if left.x < right.x and p[LEFT_HIP].x < p[RIGHT_HIP].x:  # the person's left on the image's left
        return ["person seen from the back"]
    return []


def largest_person_region(faces: Sequence[Box], size: tuple[int, int]) -> Box:
    """The column of the photo around the largest face: where that person's body is."""
    x1, y1, x2, y2 = max(faces, key=lambda f: (f[2] - f[0]) * (f[3] - f[1]))
    side, centre = x2 - x1, (x1 + x2) / 2
    return (max(0, int(centre - 2.5 * side)), max(0, int(y1 - side)), min(size[0], int(centre + 2.5 * side)), size[1])


def placed(verdict: PoseVerdict, region: Box, size: tuple[int, int]) -> PoseVerdict:
    """A verdict judged on `region` of a photo of `size`, with its landmarks and person box in whole-photo terms."""
    x0, y0, x1, y1 = region
    width, height = x1 - x0, y1 - y0
    points = tuple(
        Landmark((x0 + p.x * width) / size[0], (y0 + p.y * height) / size[1], p.visibility) for p in verdict.landmarks
    )
    whole = region == (0, 0, size[0], size[1])
    return replace(verdict, landmarks=points, region=None if whole else region, person_box=body_box(points, size))


def body_box(points: Sequence[Landmark], size: tuple[int, int], pad: float = 0.12) -> Box | None:
    """The box around the visible landmarks, padded (the head reaches above the nose, clothes past joints)."""
    seen = [p for p in points if p.visibility >= VISIBLE]
    if len(seen) < 3:
        return None
    left, right = min(p.x for p in seen), max(p.x for p in seen)
    top, bottom = min(p.y for p in seen), max(p.y for p in seen)
    dx, dy = (right - left) * pad + 0.02, (bottom - top) * pad + 0.02
    return (
        max(0, int((left - dx) * size[0])),
        max(0, int((top - 2 * dy) * size[1])),
        min(size[0], int((right + dx) * size[0])),
        min(size[1], int((bottom + dy) * size[1])),
    )
