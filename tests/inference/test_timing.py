from fractions import Fraction as F

import pytest

from filmnet.errors import InputError
from filmnet.inference.timing import (count_frames, format_number, max_new_frames_per_pair, plan_retime,
                                     schedule_pair)


@pytest.mark.parametrize("rate, text", [(F(60), "60"), (F(60000, 1001), "59.94"), (F(24000, 1001), "23.976"),
                                        (F(30000, 1001), "29.97"), (F(25, 2), "12.5")])
def test_format_number(rate, text):
    assert format_number(rate) == text


def test_plans():
    r = F(24000, 1001)
    multi = plan_retime(r, multi=3)
    assert (multi.sample_rate, multi.output_rate, multi.stretch) == (3 * r, 3 * r, 1)
    assert plan_retime(r, exp=2).output_rate == 4 * r
    fps = plan_retime(r, fps="60")
    assert (fps.sample_rate, fps.output_rate, fps.stretch) == (60, 60, 1)
    assert plan_retime(r, fps="29.97").output_rate == F(2997, 100)
    assert plan_retime(r, fps="2000").output_rate == 2000  # the writers' 1000 fps cap is not a retime limit
    slow = plan_retime(F(25), slowmo=4)
    assert (slow.sample_rate, slow.output_rate, slow.stretch) == (100, 25, 4)
    assert plan_retime(F(30000, 1001), multi=2).label == "2X_59.94fps"
    assert slow.label == "4X_25fps"


@pytest.mark.parametrize("kwargs", [{}, {"multi": 2, "fps": "60"}, {"multi": 0}, {"slowmo": 1.5}, {"exp": 12}])
def test_plan_refuses(kwargs):
    with pytest.raises(InputError):
        plan_retime(F(25), **kwargs)


@pytest.mark.parametrize("bad", ["abc", "0", "-5", "1/0"])
def test_plan_refuses_bad_fps(bad):
    with pytest.raises(InputError, match="frame rate"):
        plan_retime(F(25), fps=bad)


def _all_frames(times, end, rate):
    start = times[0]
    bounds = list(times) + [end]
    return [f for a, b in zip(bounds, bounds[1:]) for f in schedule_pair(start, rate, a, b)], start


@pytest.mark.parametrize("in_rate, out_rate", [(F(24000, 1001), F(60)), (F(25), F(30)), (F(30), F(24)),
                                               (F(24), F(48)), (F(25), F(50))])
def test_every_output_frame_at_its_true_time(in_rate, out_rate):
    n = 50
    times = [k / in_rate for k in range(n)]
    frames, start = _all_frames(times, n / in_rate, out_rate)
    assert [f.index for f in frames] == list(range(len(frames)))
    assert len(frames) == count_frames(start, out_rate, n / in_rate)
    for f in frames:
        assert f.time == f.index / out_rate
        left = times[int(f.time * in_rate)]  # exact floor on the input grid
        assert 0 <= f.t < 1
        assert f.t == (f.time - left) * in_rate
    landed = [f for f in frames if f.t == 0]
    assert len(landed) == len({f.time for f in frames} & set(times))


def test_24000_1001_to_60_pattern():
    frames, _ = _all_frames([k * F(1001, 24000) for k in range(5)], 5 * F(1001, 24000), F(60))
    assert [f.t for f in frames[:4]] == [0, F(400, 1001), F(800, 1001), F(199, 1001)]
    assert len(frames) == 13  # ceil(5 * 1001/24000 * 60) = ceil(12.5125)


def test_variable_frame_rate_times():
    times = [F(0), F(1, 25), F(1, 10), F(9, 50), F(1, 5)]
    frames, _ = _all_frames(times, F(6, 25), F(25))
    assert [f.time for f in frames] == [F(k, 25) for k in range(6)]
    assert [f.t for f in frames] == [0, 0, F(2, 3), F(1, 4), F(3, 4), 0]


def test_schedule_rejects_non_increasing_times():
    with pytest.raises(ValueError):
        list(schedule_pair(F(0), F(25), F(1), F(1)))


@pytest.mark.parametrize("rate, kwargs, most", [(F(25), {"multi": 2}, 1), (F(25), {"multi": 8}, 7),
                                                (F(25), {"fps": "60"}, 3), (F(30000, 1001), {"fps": "60"}, 3),
                                                (F(60), {"fps": "24"}, 1), (F(24), {"slowmo": 4}, 3)])
def test_max_new_frames_per_pair(rate, kwargs, most):
    plan = plan_retime(rate, **kwargs)
    assert max_new_frames_per_pair(plan, rate) == most
    # brute force over many pairs on the nominal grid: new (t != 0) frames per pair never exceed it
    counts = [sum(f.t != 0 for f in schedule_pair(F(0), plan.sample_rate, i / rate, (i + 1) / rate))
              for i in range(600)]
    assert most - 1 <= max(counts) <= most
