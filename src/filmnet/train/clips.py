"""Training clips: discover the frame sequences of Vimeo-90K trees, frame folders and video files (decoded once,
into memory or a memory-mapped cache), with the shot cuts annotated beside them. `data.py` cuts them into triplets.
"""
from __future__ import annotations


import csv
import hashlib
import logging
import os
import re
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from .. import scenes
from ..errors import InputError
from ..io.atomic import atomic_target
from ..io.media import IMAGE_SUFFIXES, VIDEO_INPUT_SUFFIXES, iter_video_rgb, natural_key, read_image, read_image_size
from .config import eval_only_parts

log = logging.getLogger(__name__)

VIDEO_EXTS = frozenset(VIDEO_INPUT_SUFFIXES)
IMAGE_EXTS = frozenset(IMAGE_SUFFIXES)
_VIMEO_NAME = re.compile(r"^im(\d+)\.png$")
MAX_RETRIES = 10



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
