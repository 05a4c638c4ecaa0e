"""The pose verdict on constructed landmarks (MediaPipe's 33 points, x/y in 0..1, y downwards)."""

from core.look.pose import (
    LEFT_ANKLE,
    LEFT_HIP,
    LEFT_KNEE,
    LEFT_SHOULDER,
    NOSE,
    RIGHT_ANKLE,
    RIGHT_HIP,
    RIGHT_KNEE,
    RIGHT_SHOULDER,
    Landmark,
    body_box,
    judge_pose,
    largest_person_region,
    placed,
)


def standing(**changes) -> list[Landmark]:
    """A person facing the camera, head to feet inside the frame (their left on the image's right)."""
    points = {
        NOSE: (0.50, 0.12),
        7: (0.53, 0.12),
        8: (0.47, 0.12),
        LEFT_SHOULDER: (0.60, 0.25),
        RIGHT_SHOULDER: (0.40, 0.25),
        LEFT_HIP: (0.56, 0.50),
        RIGHT_HIP: (0.44, 0.50),
        LEFT_KNEE: (0.56, 0.70),
        RIGHT_KNEE: (0.44, 0.70),
        LEFT_ANKLE: (0.56, 0.90),
        RIGHT_ANKLE: (0.44, 0.90),
    }
    points.update(changes.get("moved", {}))
    hidden = changes.get("hidden", ())
    return [Landmark(*points.get(i, (0.5, 0.5)), 0.1 if i in hidden or i not in points else 0.95) for i in range(33)]


def test_a_full_front_facing_person_passes():
    verdict = judge_pose(standing())
    assert verdict.full_shot and verdict.front_facing and verdict.reasons == ()


def test_no_person_and_several_people():
    assert judge_pose(None).reasons == ("no person found",) and judge_pose([]).people == 0
    verdict = judge_pose(standing(), people=3)
    assert verdict.full_shot and "3 people: using the largest" in verdict.reasons


def test_feet_cut_off_or_hidden():
    assert "feet not visible" in judge_pose(standing(hidden=(LEFT_ANKLE, RIGHT_ANKLE))).reasons
    cut = judge_pose(standing(moved={LEFT_ANKLE: (0.56, 0.995), RIGHT_ANKLE: (0.44, 0.995)}))
    assert not cut.full_shot and "feet not visible" in cut.reasons


def test_half_body_shot_is_not_full_but_can_face_the_camera():
    verdict = judge_pose(standing(hidden=(LEFT_KNEE, RIGHT_KNEE, LEFT_ANKLE, RIGHT_ANKLE)))
    assert not verdict.full_shot and {"legs not visible", "feet not visible"} <= set(verdict.reasons)
    assert verdict.front_facing


def test_facing_is_judged_in_pixels_whatever_the_photos_shape():
    # the same person pasted into a wide landscape photo: half as wide a share of the photo's width
    wide = standing(
        moved={
            LEFT_SHOULDER: (0.535, 0.25),
            RIGHT_SHOULDER: (0.465, 0.25),
            LEFT_HIP: (0.53, 0.50),
            RIGHT_HIP: (0.47, 0.50),
        }
    )
    assert judge_pose(wide, aspect=1.0).reasons == ("person turned sideways",)
    assert judge_pose(wide, aspect=16 / 9).front_facing


def test_faces_without_a_body_are_not_nobody():
    verdict = judge_pose(None, people=2)
    assert verdict.people == 2 and not verdict.full_shot and "no person found" not in verdict.reasons


def test_a_shoe_packshot_with_confident_landmarks_is_rejected_by_geometry():
    # all points "visible" but squashed into a flat band, the way shoe photos come out
    flat = [Landmark(0.2 + 0.02 * (i % 30), 0.55 + 0.001 * i, 0.9) for i in range(33)]
    verdict = judge_pose(flat)
    assert not verdict.full_shot and not verdict.front_facing


def test_implausible_proportions():
    stretched = standing(moved={LEFT_SHOULDER: (0.6, 0.45), RIGHT_SHOULDER: (0.4, 0.45), NOSE: (0.5, 0.40)})
    assert any("proportions" in r for r in judge_pose(stretched).reasons)


def test_sideways_and_back_views():
    sideways = standing(moved={LEFT_SHOULDER: (0.52, 0.25), RIGHT_SHOULDER: (0.48, 0.25)})
    verdict = judge_pose(sideways)
    assert verdict.full_shot and not verdict.front_facing and "person turned sideways" in verdict.reasons
    back = standing(
        moved={
            LEFT_SHOULDER: (0.40, 0.25),
            RIGHT_SHOULDER: (0.60, 0.25),
            LEFT_HIP: (0.44, 0.50),
            RIGHT_HIP: (0.56, 0.50),
        }
    )
    assert "person seen from the back" in judge_pose(back).reasons


def test_too_small_in_the_frame():
    tiny = {
        NOSE: (0.5, 0.40),
        7: (0.51, 0.40),
        8: (0.49, 0.40),
        LEFT_SHOULDER: (0.53, 0.44),
        RIGHT_SHOULDER: (0.47, 0.44),
        LEFT_HIP: (0.52, 0.52),
        RIGHT_HIP: (0.48, 0.52),
        LEFT_KNEE: (0.52, 0.58),
        RIGHT_KNEE: (0.48, 0.58),
        LEFT_ANKLE: (0.52, 0.64),
        RIGHT_ANKLE: (0.48, 0.64),
    }
    assert "the person is too small in the photo" in judge_pose(standing(moved=tiny)).reasons


def test_several_people_are_judged_around_the_largest_face():
    faces = [(10, 50, 30, 70), (200, 40, 240, 80), (400, 60, 420, 80)]
    assert largest_person_region(faces, (600, 800)) == (120, 0, 320, 800)


def test_a_verdict_judged_on_a_region_is_placed_back_on_the_whole_photo():
    verdict = placed(judge_pose(standing()), (100, 0, 300, 400), (400, 400))
    nose = verdict.landmarks[NOSE]
    assert (round(nose.x, 3), round(nose.y, 3)) == (0.5, 0.12) and verdict.region == (100, 0, 300, 400)
    x1, y1, x2, y2 = verdict.person_box
    assert 150 < x1 < 180 and 220 < x2 < 250 and y1 < 48 and 360 <= y2 <= 400
    assert placed(judge_pose(standing()), (0, 0, 400, 400), (400, 400)).region is None


def test_no_person_box_without_visible_landmarks():
    assert body_box(standing(hidden=range(33)), (100, 100)) is None


def test_the_bundled_mediapipe_model_loads_offline_and_finds_nobody_in_a_blank_photo():
    from PIL import Image

    from core.look.pose_model import PoseModel

    verdict = PoseModel().verdict(Image.new("RGB", (300, 500), "white"))
    assert not verdict.full_shot and verdict.reasons == ("no person found",)


def test_wide_photos_are_read_in_overlapping_squares_and_faces_seen_twice_count_once():
    from PIL import Image

    from core.look.pose_model import _square_tiles, _without_duplicates

    tiles = list(_square_tiles(Image.new("RGB", (1500, 600))))
    assert [left for left, _ in tiles] == [0, 300, 600, 900] and all(t.size == (600, 600) for _, t in tiles)
    assert [left for left, _ in _square_tiles(Image.new("RGB", (500, 800)))] == [0]
    assert _without_duplicates([(100, 50, 150, 100), (102, 52, 150, 100), (400, 50, 440, 90)]) == [
        (100, 50, 150, 100),
        (400, 50, 440, 90),
    ]
