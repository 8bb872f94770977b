"""Training triplets (x0, y, x1) from Vimeo-90K, frame folders and video files (film_spec.md §3).

Each source path is scanned once. Layouts, detected per path: Vimeo-90K triplet or septuplet (`tri_trainlist.txt`
/ `sep_trainlist.txt` + `sequences/`, or any tree of `im1.png..imN.png` folders), folders of PNG/JPEG frames
(natural sort) and video files (decoded once by the media layer, `filmnet.io.media`, into memory or a
memory-mapped cache). Frame sequences give triplets (i, i+s, i+2s) for every spacing s; triplets spanning a shot
cut (`filmnet.scenes`, plus the `cuts` column of a `motion_stats.csv` found in the source tree) or with
repeated/static frames are dropped.
The train/val split holds out whole clips (a single clip is split in time instead), so they never share frames.
"""
from __future__ import annotations

import csv
import hashlib
import logging
import os
import random
import re
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Sequence

import numpy as np
import torch
from torch.utils.data import Dataset

from .. import scenes
from ..errors import InputError
from ..io.atomic import atomic_target
from ..io.media import IMAGE_SUFFIXES, VIDEO_INPUT_SUFFIXES, iter_video_rgb, natural_key, read_image, read_image_size
from .augment import DEGRADATIONS, augment_triplet, center_crop, check_degrade_kind, pad_to, paste_moving_object
from .config import eval_only_parts
from .pseudo_flow import pseudo_flows

log = logging.getLogger(__name__)

VIDEO_EXTS = frozenset(VIDEO_INPUT_SUFFIXES)
IMAGE_EXTS = frozenset(IMAGE_SUFFIXES)
_VIMEO_NAME = re.compile(r"^im(\d+)\.png$")
_MAX_RETRIES = 10



@dataclass
class Clip:
    """One holdout unit: frames given as file paths or as a decoded uint8 (N, H, W, 3) array."""

    name: str
    source: Path
    paths: list[Path] | None = None
    array: np.ndarray | None = None
    thumbs: list[np.ndarray | None] | None = None  # None per unreadable frame; None overall = no scene checks
    sizes: list[tuple[int, int] | None] | None = None
    cuts: set[int] = field(default_factory=set)  # k: a new shot starts at frame k

    def __len__(self) -> int:
        return len(self.paths) if self.paths is not None else len(self.array)

    def load(self, index: int) -> torch.Tensor:
        """Frame `index` as (3, H, W) float32 in [0, 1]."""
        if self.array is not None:
            return torch.from_numpy(np.ascontiguousarray(self.array[index])).permute(2, 0, 1).float().div_(255.0)
        return torch.from_numpy(read_image(self.paths[index])).permute(2, 0, 1).contiguous()


# ---------------------------------------------------------------- discovery

def _vimeo_clip(folder: Path, name: str, check_files: bool) -> Clip | None:
    frames = sorted((int(m.group(1)), p) for p in folder.iterdir() if (m := _VIMEO_NAME.match(p.name)))
    if len(frames) < 3:
        return None
    paths = [p for _, p in frames]
    sizes = [_safe_size(p) for p in paths] if check_files else None
    return Clip(name=name, source=folder, paths=paths, sizes=sizes)


def _safe_size(path: Path) -> tuple[int, int] | None:
    try:
        return read_image_size(path)
    except InputError as err:
        log.warning("skipping unreadable frame: %s", err)
        return None


def _vimeo_list(root: Path, listfile: Path, check_files: bool) -> list[Clip]:
    seq_root = root / "sequences" if (root / "sequences").is_dir() else root
    clips = []
    for line in listfile.read_text().split():
        folder = seq_root / line.strip()
        clip = _vimeo_clip(folder, f"{root.name}/{line.strip()}", check_files) if folder.is_dir() else None
        if clip is None:
            log.warning("%s lists %s, which has no im1..im3.png; skipped", listfile.name, folder)
        else:
            clips.append(clip)
    return clips


def _frame_folder(folder: Path, name: str) -> Clip | None:
    paths = sorted((p for p in folder.iterdir() if p.suffix.lower() in IMAGE_EXTS), key=lambda p: natural_key(p.name))
    if len(paths) < 3:
        return None
    thumbs, sizes = [], []
    for p in paths:
        try:
            frame = read_image(p)
        except InputError as err:
            log.warning("skipping unreadable frame: %s", err)
            thumbs.append(None), sizes.append(None)
            continue
        thumbs.append(scenes.thumbnail(frame))
        sizes.append(frame.shape[:2])
    return Clip(name=name, source=folder, paths=paths, thumbs=thumbs, sizes=sizes)


def _decode_video(path: Path, max_short_side: int | None) -> np.ndarray:
    """Every frame as uint8 (N, H, W, 3), downscaled to `max_short_side` (the media layer's `iter_video_rgb`)."""
    frames = list(iter_video_rgb(path, max_short_side))
    if len({f.shape for f in frames}) > 1:
        raise InputError(f"{path}: frame size changes inside the video")
    return np.stack(frames) if frames else np.zeros((0, 1, 1, 3), np.uint8)


def _cache_file(cache_dir: Path, path: Path, max_short_side: int | None) -> Path:
    st = path.stat()
    key = f"{path.resolve()}|{st.st_size}|{st.st_mtime_ns}|{max_short_side}"
    return cache_dir / f"{path.stem}-{hashlib.sha1(key.encode()).hexdigest()[:16]}.npy"


def _save_npy_atomic(target: Path, array: np.ndarray) -> None:
    with atomic_target(target) as tmp, tmp.open("wb") as f:
        np.save(f, array)


def _video_clip(path: Path, name: str, max_short_side: int | None, cache_dir: Path | None) -> Clip | None:
    try:
        if cache_dir is None:
            array = _decode_video(path, max_short_side)
        else:
            cached = _cache_file(cache_dir, path, max_short_side)
            if not cached.exists():
                cache_dir.mkdir(parents=True, exist_ok=True)
                _save_npy_atomic(cached, _decode_video(path, max_short_side))
            array = np.load(cached, mmap_mode="r", allow_pickle=False)
    except (InputError, OSError, ValueError) as err:  # PyAV errors derive from OSError/ValueError
        log.warning("skipping unreadable video %s: %s", path, err)
        return None
    if len(array) < 3:
        return None
    thumbs = [scenes.thumbnail(np.asarray(f)) for f in array]
    return Clip(name=name, source=path, array=array, thumbs=thumbs, sizes=[array.shape[1:3]] * len(array))


def annotated_cuts(root: Path) -> dict[Path, set[int]]:
    """`cuts` column of any motion_stats.csv under `root` (as in shared/data/train_video)."""
    cuts: dict[Path, set[int]] = {}
    for stats in root.rglob("motion_stats.csv"):
        with open(stats, newline="") as f:
            for row in csv.DictReader(f):
                if row.get("path") and row.get("cuts", "").strip():
                    cuts[(stats.parent / row["path"]).resolve()] = {int(v) for v in row["cuts"].split()}
    return cuts


def _scan_tree(root: Path, max_short_side: int | None, cache_dir: Path | None, check_files: bool) -> list[Clip]:
    clips: list[Clip] = []
    cuts = annotated_cuts(root)
    for folder, dirs, files in os.walk(root):
        dirs[:] = sorted((d for d in dirs if not _is_eval_only(Path(folder, d))), key=natural_key)
        folder = Path(folder)
        rel = folder.relative_to(root).as_posix()
        name = root.name if rel == "." else f"{root.name}/{rel}"
        if any(_VIMEO_NAME.match(f) for f in files) and (clip := _vimeo_clip(folder, name, check_files)):
            clips.append(clip)
        elif sum(Path(f).suffix.lower() in IMAGE_EXTS for f in files) >= 3 and (clip := _frame_folder(folder, name)):
            clips.append(clip)
        for f in sorted(files, key=natural_key):
            if Path(f).suffix.lower() in VIDEO_EXTS and not _is_eval_only(folder / f):
                clip = _video_clip(folder / f, f"{name}/{f}", max_short_side, cache_dir)
                if clip is not None:
                    clips.append(clip)
    for clip in clips:
        clip.cuts |= cuts.get(clip.source.resolve(), set())
    return clips


def _is_eval_only(path: Path) -> bool:
    banned = eval_only_parts(path)
    if banned:
        log.warning("skipping %s: evaluation-only set (%s), never trained on", path, ", ".join(sorted(banned)))
    return bool(banned)


def discover_clips(source: str | Path, *, max_short_side: int | None = 540, cache_dir: str | Path | None = None,
                   check_files: bool = True) -> list[Clip]:
    """Find the clips of one source path (file or folder), detecting its layout."""
    root = Path(source)
    if banned := eval_only_parts(root):
        raise InputError(f"{root} is an evaluation-only set ({', '.join(sorted(banned))}); never train on it")
    cache = Path(cache_dir) if cache_dir is not None else None
    if root.is_file():
        if root.suffix.lower() not in VIDEO_EXTS:
            raise InputError(f"{root}: not a video file ({', '.join(sorted(VIDEO_EXTS))}) nor a folder")
        clip = _video_clip(root, root.name, max_short_side, cache)
        return [clip] if clip else []
    if not root.is_dir():
        raise InputError(f"training source not found: {root}")
    for listname in ("tri_trainlist.txt", "sep_trainlist.txt"):
        if (root / listname).is_file():
            return _vimeo_list(root, root / listname, check_files)
    if (root / "tri_testlist.txt").is_file() or (root / "sep_testlist.txt").is_file():
        raise InputError(f"{root} has only a Vimeo-90K test list; it is for evaluation, not training")
    return _scan_tree(root, max_short_side, cache, check_files)


# ---------------------------------------------------------------- triplets and split

@dataclass
class _Counts:
    bad: int = 0
    cut: int = 0
    static: int = 0


def _prefix_flags(clip: Clip, flag) -> np.ndarray:
    """counts[k] = number of k' <= k with flag(frame k'-1, frame k') true (thumbnails missing -> false)."""
    counts = np.zeros(len(clip), np.int64)
    for k in range(1, len(clip)):
        a, b = (clip.thumbs[k - 1], clip.thumbs[k]) if clip.thumbs is not None else (None, None)
        counts[k] = counts[k - 1] + bool(flag(k, a, b))
    return counts


def _clip_triplets(clip: Clip, spacings: Sequence[int], lo: int, hi: int, counts: _Counts) -> list[tuple[int, int, int]]:
    """Triplets (i, i+s, i+2s) inside frames [lo, hi) that are readable, same-sized, uncut and moving.

    A triplet is dropped if any consecutive frame pair inside it is a cut, or a repeated frame (then y is not
    the true halfway frame), or if x0 and x1 are near-identical.
    """
    is_vimeo_triplet = clip.array is None and clip.thumbs is None and len(clip) == 3
    known = lambda a, b: a is not None and b is not None  # noqa: E731
    cuts = _prefix_flags(clip, lambda k, a, b: k in clip.cuts or (known(a, b) and scenes.is_scene_cut(a, b)))
    repeats = _prefix_flags(clip, lambda k, a, b: known(a, b) and scenes.is_near_duplicate(a, b))
    out = []
    for s in (1,) if is_vimeo_triplet else spacings:
        for i in range(lo, hi - 2 * s):
            idx = (i, i + s, i + 2 * s)
            if clip.sizes is not None and (None in (sz := [clip.sizes[j] for j in idx]) or len(set(map(tuple, sz))) > 1):
                counts.bad += 1
            elif cuts[i + 2 * s] > cuts[i]:
                counts.cut += 1
            elif repeats[i + 2 * s] > repeats[i] or (
                    clip.thumbs is not None and scenes.is_near_duplicate(clip.thumbs[i], clip.thumbs[i + 2 * s])):
                counts.static += 1
            else:
                out.append(idx)
    return out


def _holdout_rank(name: str) -> str:
    return hashlib.sha1(name.encode()).hexdigest()  # seed-independent: val stays fixed across runs


def _split_ranges(clips: list[Clip], split: str, holdout: float) -> list[tuple[int, int, int]]:
    """(clip index, lo, hi) frame ranges belonging to `split`."""
    if not 0.0 <= holdout < 1.0:
        raise InputError(f"holdout must be in [0, 1), got {holdout}")
    if holdout == 0.0:
        return [(c, 0, len(clip)) for c, clip in enumerate(clips)] if split == "train" else []
    if len(clips) == 1:  # one clip: hold out its tail in time
        n = len(clips[0])
        start = min(n - 1, max(1, round(n * (1.0 - holdout))))
        return [(0, 0, start)] if split == "train" else [(0, start, n)]
    order = sorted(range(len(clips)), key=lambda c: _holdout_rank(clips[c].name))
    n_val = min(len(clips) - 1, max(1, round(holdout * len(clips))))
    chosen = set(order[:n_val]) if split == "val" else set(order[n_val:])
    return [(c, 0, len(clips[c])) for c in sorted(chosen)]


def held_out_clips(clips: list[Clip], holdout: float) -> list[Clip]:
    """The clips a `holdout` split keeps for validation (two or more clips: whole clips, chosen by name)."""
    if len(clips) < 2:
        raise InputError("holding out whole clips needs at least two clips")
    return [clips[c] for c, _, _ in _split_ranges(clips, "val", holdout)]


# ---------------------------------------------------------------- dataset

class TripletDataset(Dataset):
    """Triplets of frames as dicts {x0, x1, y: (3, crop, crop) float32 in [0, 1], time: tensor(0.5)}.

    `skipped` counts triplets dropped for bad data (unreadable frame, size mismatch), `filtered` those dropped
    for a shot cut or a static/repeated frame. Augmentation is reproducible from (seed, epoch, index);
    call `set_epoch(e)` before each epoch. With `pseudo_flow`, items also carry `flow`: DIS labels of the
    augmented x0/x1 crop (`train.pseudo_flow`). With `object_motion` p, an augmented training item gets, with
    probability p, an object moving on its own by up to crop/3 px (`train.augment.paste_moving_object`). With
    `degrade` p, with probability p, a training item is degraded by `degrade_kind`: "soft" softens and JPEG-codes it
    (`train.augment.degrade_triplet`), "codec" codes it as MPEG-4 video (`train.augment.codec_triplet`); a held-out
    dataset with `degrade` > 0 degrades every item, with a draw fixed by its index.
    """

    def __init__(self, clips: list[Clip], triplets: list[tuple[int, int, int, int]], *, options: DataOptions,
                 train: bool, counts: _Counts):
        self.clips = clips
        self.degrade_fn = DEGRADATIONS[check_degrade_kind(options.degrade_kind)]
        self.pseudo_flow = options.pseudo_flow
        self.object_motion = options.object_motion
        self.degrade = options.degrade
        self.triplets = np.asarray(triplets, dtype=np.int64).reshape(-1, 4)
        self.crop, self.augment, self.large_motion, self.train = (options.crop, options.augment, options.large_motion,
                                                                  train)
        self.seed, self.epoch = options.seed, 0
        self.skipped = counts.bad
        self.filtered = {"cut": counts.cut, "static": counts.static}

    def __len__(self) -> int:
        return len(self.triplets)

    def set_epoch(self, epoch: int) -> None:
        self.epoch = int(epoch)

    def __getitem__(self, index: int) -> dict[str, torch.Tensor]:
        for attempt in range(_MAX_RETRIES):
            i = (index + attempt) % len(self)
            try:
                frames = self._load(i)
            except (InputError, OSError, ValueError) as err:
                self.skipped += 1
                log.warning("skipping triplet %d: %s", i, err)
                continue
            return self._make_item(frames, index)
        raise InputError(f"{_MAX_RETRIES} unreadable triplets in a row from index {index}; check the data")

    def _load(self, i: int) -> torch.Tensor:
        c, a, b, d = (int(v) for v in self.triplets[i])
        frames = [self.clips[c].load(j) for j in (a, b, d)]
        if len({f.shape for f in frames}) > 1:
            raise InputError(f"{self.clips[c].name}: frames {a}, {b}, {d} differ in size")
        return torch.stack(frames)  # (3, 3, H, W) ordered x0, y, x1

    def _make_item(self, frames: torch.Tensor, index: int) -> dict[str, torch.Tensor]:
        if self.train:
            rng = np.random.default_rng([self.seed, self.epoch, index])
            if self.augment:
                frames = augment_triplet(frames, self.crop, rng, large_motion=self.large_motion)
                if self.object_motion and rng.random() < self.object_motion:
                    frames = paste_moving_object(frames, rng, max_motion=self.crop // 3)
            else:
                frames = _random_crop(frames, self.crop, rng)
            if self.degrade and rng.random() < self.degrade:
                frames = self.degrade_fn(frames, rng)
        else:
            frames = center_crop(frames, self.crop)
            if self.degrade:
                frames = self.degrade_fn(frames, np.random.default_rng([self.seed, index]))
        x0, y, x1 = frames.float().clamp_(0.0, 1.0).contiguous().unbind(0)
        item = {"x0": x0, "x1": x1, "y": y, "time": torch.tensor(0.5, dtype=torch.float32)}
        if self.pseudo_flow:
            item["flow"] = pseudo_flows(x0, x1)
        return item


def _random_crop(frames: torch.Tensor, crop: int, rng: np.random.Generator) -> torch.Tensor:
    frames = pad_to(frames, crop, crop)
    h, w = frames.shape[-2:]
    top, left = int(rng.integers(h - crop + 1)), int(rng.integers(w - crop + 1))
    return frames[..., top : top + crop, left : left + crop]


@dataclass(frozen=True)
class DataOptions:
    """How triplets are cut and prepared (see `build_train_dataset` for each field)."""

    crop: int = 256
    spacings: Sequence[int] = (1, 2, 3)
    augment: bool = True
    large_motion: bool = False
    seed: int = 0
    max_short_side: int | None = 540
    cache_dir: str | Path | None = None
    check_files: bool = True
    pseudo_flow: bool = False
    object_motion: float = 0.0
    degrade: float = 0.0
    degrade_kind: str = "soft"


def data_options(options: DataOptions | None = None, **keywords) -> DataOptions:
    """`options` (default `DataOptions()`) with `keywords` (its fields, one by one) applied on top."""
    unknown = set(keywords) - {f.name for f in fields(DataOptions)}
    if unknown:
        raise TypeError(f"unknown dataset options: {', '.join(sorted(unknown))}")
    return replace(options or DataOptions(), **keywords)


def build_train_dataset(sources: Sequence[str | Path], *, split: str = "train", holdout: float = 0.0,
                        options: DataOptions | None = None, **keywords) -> TripletDataset:
    """Build the training (or held-out validation) triplet dataset from one or more sources.

    Args:
      sources: Vimeo-90K roots, folders of clips / frame folders, or video files.
      split: "train" (random crops) or "val" (held-out clips, centre crop, no augmentation).
      holdout: fraction of clips held out for "val"; 0 puts everything in "train".
      options: `DataOptions`; its fields may also be given as keywords (`crop=64`), applied on top:
        crop: output side; frames smaller than this are zero-padded.
        spacings: frame steps s of triplets (i, i+s, i+2s) for sequences and videos (Vimeo triplets use 1).
        augment: official augmentation (train split only); else a plain random crop.
        large_motion: add the synthetic large-motion shift (see `train.augment`).
        seed: augmentation seed.
        max_short_side: videos are decoded downscaled so the short side is at most this (None: native);
          image frames (Vimeo, frame folders) are read at their native size.
        cache_dir: if set, decoded videos are kept there as .npy and memory-mapped instead of held in RAM.
        check_files: read every image header up front so bad files are skipped before training starts.
        pseudo_flow: add DIS flow labels (`flow`, (6, crop, crop)) to training items; needs OpenCV.
        object_motion: probability of pasting an independently moving object into an augmented training item.
        degrade: probability of degrading a training item; for split "val", any value > 0 degrades every item
          (a fixed draw per item).
        degrade_kind: "soft" (down-up resize and JPEG, `train.augment.degrade_triplet`) or "codec" (MPEG-4 video
          coding, `train.augment.codec_triplet`).
    Returns:
      TripletDataset; `len(ds)`, `ds.skipped`, `ds.filtered`, `ds.set_epoch(e)`.
    """
    if split not in ("train", "val"):
        raise InputError(f"split must be 'train' or 'val', got {split!r}")
    opts = data_options(options, **keywords)
    return _split_dataset(_discover_all(sources, opts), split, holdout, opts)


def build_train_val_datasets(sources: Sequence[str | Path], *, holdout: float, degrade_val: bool = False,
                             options: DataOptions | None = None, **keywords
                             ) -> tuple[TripletDataset, TripletDataset | None]:
    """(train, val) datasets as `build_train_dataset` gives them, sharing one scan and one decode of the sources.

    val is None when `holdout` is 0; it never uses augmentation. `degrade_val` degrades every val item by
    `degrade_kind` (the soft-input or codec proxy of the held-out clips).
    """
    opts = data_options(options, **keywords)
    clips = _discover_all(sources, opts)
    train = _split_dataset(clips, "train", holdout, opts)
    val_opts = replace(opts, augment=False, pseudo_flow=False, object_motion=0.0, degrade=float(degrade_val))
    val = _split_dataset(clips, "val", holdout, val_opts) if holdout > 0 else None
    return train, val


def _discover_all(sources: Sequence[str | Path], opts: DataOptions) -> list[Clip]:
    if opts.crop < 1 or not opts.spacings or any(int(s) < 1 for s in opts.spacings):
        raise InputError(f"need crop >= 1 and spacings >= 1, got crop={opts.crop}, spacings={tuple(opts.spacings)}")
    return [clip for src in sources for clip in discover_clips(src, max_short_side=opts.max_short_side,
                                                               cache_dir=opts.cache_dir, check_files=opts.check_files)]


def _split_dataset(clips: list[Clip], split: str, holdout: float, opts: DataOptions) -> TripletDataset:
    counts = _Counts()
    triplets = [(c, *t) for c, lo, hi in _split_ranges(clips, split, holdout)
                for t in _clip_triplets(clips[c], [int(s) for s in opts.spacings], lo, hi, counts)]
    if counts.bad:
        log.warning("skipped %d triplets with unreadable or mismatched frames", counts.bad)
    log.info("%s split: %d triplets from %d clips (%d cut, %d static dropped)", split, len(triplets), len(clips),
             counts.cut, counts.static)
    if split != "train":  # labels and pasted objects are for training items only
        opts = replace(opts, pseudo_flow=False, object_motion=0.0)
    return TripletDataset(clips, triplets, options=opts, train=split == "train", counts=counts)


def seed_worker(worker_id: int) -> None:
    """DataLoader `worker_init_fn`: seed numpy and `random` from the worker's torch seed.

    Leaves OpenCV alone: `cv2.setNumThreads` in a forked worker hangs once the parent has used OpenCV's pool.
    """
    worker_seed = torch.initial_seed() % 2**32
    np.random.seed(worker_seed)
    random.seed(worker_seed)
