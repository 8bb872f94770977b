"""Evaluation triplets (I0, I1, GT) from the benchmark folder layouts of film_spec.md §4.4.

Layouts, detected per folder: Middlebury "other" (`frame10.png`, `frame11.png` -> `frame10i11.png`, one folder
per scene, or the official split `other-data/<seq>/` + `other-gt-interp/<seq>/`; DAVIS as vendored by AdaCoF uses
the same names, also as `input/<seq>/` + `gt/<seq>/`), UCF101-DVF (`frame_00.png`, `frame_02.png` ->
`frame_01_gt.png`) and generic `im1/im3 -> im2` folders (Vimeo-90K). A Vimeo root with `tri_testlist.txt` uses it.
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from ..errors import InputError
from ..io.media.images import natural_key

# (name of I0, name of I1, name of GT) per single-folder layout.
LAYOUTS: dict[str, tuple[str, str, str]] = {
    "middlebury": ("frame10.png", "frame11.png", "frame10i11.png"),
    "ucf101_dvf": ("frame_00.png", "frame_02.png", "frame_01_gt.png"),
    "vimeo": ("im1.png", "im3.png", "im2.png"),
}
# (input folder, GT folder) pairs of split layouts.
SPLIT_LAYOUTS = (("other-data", "other-gt-interp"), ("input", "gt"))


@dataclass(frozen=True)
class Triplet:
    """One evaluation example: two input frames and the ground-truth middle frame (t = 0.5)."""

    name: str
    frame0_path: Path
    frame1_path: Path
    gt_path: Path


def _folder_triplet(folder: Path, name: str) -> Triplet | None:
    for f0, f1, gt in LAYOUTS.values():
        if all((folder / f).is_file() for f in (f0, f1, gt)):
            return Triplet(name, folder / f0, folder / f1, folder / gt)
    return None


def _split_triplets(root: Path, inputs: str, gts: str) -> list[Triplet]:
    f0, f1, gt = LAYOUTS["middlebury"]
    out = []
    for seq in sorted((root / inputs).iterdir(), key=lambda p: natural_key(p.name)):
        gt_path = root / gts / seq.name / gt
        if (seq / f0).is_file() and (seq / f1).is_file() and gt_path.is_file():
            out.append(Triplet(seq.name, seq / f0, seq / f1, gt_path))
    return out


def _vimeo_testlist(root: Path) -> list[Triplet]:
    seq_root = root / "sequences" if (root / "sequences").is_dir() else root
    out = []
    for line in (root / "tri_testlist.txt").read_text().split():
        triplet = _folder_triplet(seq_root / line, line)
        if triplet is None:
            raise InputError(f"{root / 'tri_testlist.txt'} lists {line}, but {seq_root / line} has no im1/im2/im3.png")
        out.append(triplet)
    return out


def load_eval_triplets(path: str | Path) -> list[Triplet]:
    """Find every evaluation triplet under `path` (sorted by name, natural order).

    Raises:
      InputError: `path` is missing, empty, or holds no known layout.
    """
    root = Path(path)
    if not root.is_dir():
        raise InputError(f"evaluation data folder not found: {root}")
    if (root / "tri_testlist.txt").is_file():
        return _vimeo_testlist(root)
    for inputs, gts in SPLIT_LAYOUTS:
        if (root / inputs).is_dir() and (root / gts).is_dir():
            found = _split_triplets(root, inputs, gts)
            if found:
                return found
    out = []
    for folder, dirs, _ in os.walk(root):
        dirs.sort(key=natural_key)
        rel = Path(folder).relative_to(root).as_posix()
        triplet = _folder_triplet(Path(folder), root.name if rel == "." else rel)
        if triplet is not None:
            out.append(triplet)
    if not out:
        known = "; ".join(f"{k}: {a} + {b} -> {c}" for k, (a, b, c) in LAYOUTS.items())
        raise InputError(f"no evaluation triplets found under {root}. Known layouts (one folder per triplet): {known}; "
                         "or Middlebury 'other-data/' + 'other-gt-interp/', or a Vimeo root with tri_testlist.txt")
    return sorted(out, key=lambda t: natural_key(t.name))
