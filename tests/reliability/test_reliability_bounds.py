"""Rule 4 of issue 16: every numeric option has bounds, and the error gives the reason; plans stay lazy."""
import itertools
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import pytest
from PIL import Image

from filmnet.bounds import BOUNDS, check
from filmnet.cli import main
from filmnet.errors import InputError
from filmnet.inference.timing import PairSchedule, count_frames, plan_retime, schedule_pair
from filmnet.train.config import TrainConfig


def run(capsys, *args) -> tuple[int, str, str]:
    code = main([str(a) for a in args])
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture(scope="module")
def media(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("media")
    for name in ("a.png", "b.png"):
        Image.fromarray(np.zeros((32, 32, 3), np.uint8)).save(root / name)
    with av.open(str(root / "v.mkv"), "w") as c:
        s = c.add_stream("ffv1", rate=25)
        s.width, s.height, s.pix_fmt = 32, 32, "bgr0"
        for i in range(3):
            c.mux(s.encode(av.VideoFrame.from_ndarray(np.full((32, 32, 3), 50 * i, np.uint8), format="rgb24")))
        c.mux(s.encode(None))
    return root


I = ["interpolate", "{a}", "{b}", "-o", "{out}"]
V = ["video", "{v}", "-o", "{out}.mp4"]
CASES = {
    "interpolate --exp": (I + ["--exp", "11"], "doubles the work"),
    "interpolate --multi": (I + ["--multi", "5000"], "more than any playback"),
    "interpolate --multi low": (I + ["--multi", "1"], "at least one new frame"),
    "interpolate --fps": (I + ["--exp", "1", "--fps", "5000"], "no display or encoder"),
    "interpolate --fps zero": (I + ["--exp", "1", "--fps", "0"], "positive"),
    "interpolate --tile": (I + ["--exp", "1", "--tile", "100000x64"], "multiples of 64"),
    "interpolate --tile-overlap": (I + ["--exp", "1", "--tile-overlap", "99999"], "only repeats work"),
    "interpolate --max-memory": (I + ["--exp", "1", "--max-memory", "1MB"], "smallest FILM tile"),
    "video --multi": (V + ["--multi", "65"], "run twice for more"),
    "video --exp": (V + ["--exp", "7"], "run twice for more"),
    "video --slowmo": (V + ["--slowmo", "1000"], "run twice for more"),
    "video --crf": (V + ["--multi", "2", "--crf", "99"], "quality scale"),
    "video --fps": (V + ["--fps", "100000"], "run twice for more"),
    "video --fps absurd": (V + ["--fps", "1e9"], "even for high-speed footage"),
    "video --fps tiny": (V + ["--fps", "1/100000000"], "positive"),
    "train --steps": (["train", "--steps", "0"], "at least one step"),
    "train --steps high": (["train", "--steps", "99999999999"], "centuries"),
    "train --batch-size": (["train", "--batch-size", "100000"], "accelerator"),
    "train --crop": (["train", "--crop", "32"], "coarsest level"),
    "demo --exp": (["demo", "--exp", "9", "-o", "{out}"], "look smooth"),
    "demo --fps": (["demo", "--fps", "1e6", "-o", "{out}"], "no display or encoder"),
}


@pytest.mark.parametrize("case", list(CASES))
def test_out_of_bounds_option_is_one_line_with_its_reason(tmp_path, capsys, media, case):
    args, reason = CASES[case]
    names = {"a": media / "a.png", "b": media / "b.png", "v": media / "v.mkv", "out": tmp_path / "out"}
    code, _, err = run(capsys, *(a.format(**names) for a in args))
    assert code != 0 and err.startswith("error: ") and err.count("\n") == 1, err
    assert reason in err, err
    assert list(tmp_path.iterdir()) == []


def test_every_bound_has_a_reason_and_checks_both_ends():
    for name, bound in BOUNDS.items():
        assert bound.reason and bound.low < bound.high
        assert check(name, bound.low) == bound.low and check(name, bound.high) == bound.high
        for bad in (bound.low - 1, bound.high + 1):
            with pytest.raises(InputError, match=bound.reason.split(";")[0][:20]):
                check(name, bad)


def test_train_config_files_are_bounded_too():
    with pytest.raises(InputError, match="centuries"):
        TrainConfig(steps=10**12)
    with pytest.raises(InputError, match="accelerator"):
        TrainConfig(batch_size=10**6)


def test_retime_ratio_is_bounded_and_schedules_are_lazy():
    with pytest.raises(InputError, match="at most 256 x"):
        plan_retime(Fraction(25), fps="100000")
    assert plan_retime(Fraction(1000), fps="2000").output_rate == 2000  # high-speed sources keep working
    # a pair 1e6 s long at 1000 fps: the schedule is a generator, its count is O(1), nothing is listed
    frames = schedule_pair(Fraction(0), Fraction(1000), Fraction(0), Fraction(10**6))
    assert [f.index for f in itertools.islice(frames, 3)] == [0, 1, 2]
    assert count_frames(Fraction(0), Fraction(1000), Fraction(10**6)) == 10**9
    lazy = PairSchedule(Fraction(0), Fraction(1000), Fraction(1, 2000), Fraction(10**6))
    assert len(lazy) == 10**9 - 1 and next(iter(lazy)).index == 1  # what retiming holds for a pair: no list
    assert len(PairSchedule(Fraction(0), Fraction(3), Fraction(1, 3), Fraction(1))) == len(
        list(schedule_pair(Fraction(0), Fraction(3), Fraction(1, 3), Fraction(1)))) == 2
