"""`filmnet batch` in local mode (worker processes, no Ray): same output as `filmnet video`, ranges, reruns."""
import json
import os
import signal
from pathlib import Path

import pytest

av = pytest.importorskip("av")

from helpers import MODEL, make_clip, same_frames, save_tiny  # noqa: E402
from filmnet.batch import collect, run_batch  # noqa: E402
from filmnet.batch.local import LocalExecutor  # noqa: E402
from filmnet.batch.plan import record_path  # noqa: E402
from filmnet.cli import main  # noqa: E402
from filmnet.errors import InputError  # noqa: E402
from filmnet.inference import Interpolator  # noqa: E402
from filmnet.inference.ranges import SegmentRange, render_range  # noqa: E402
from filmnet.inference.video import retime  # noqa: E402

pytestmark = pytest.mark.slow  # worker processes, a server, a browser or a cluster: in CI, not in the quick default run


@pytest.fixture(autouse=True)
def no_ray_address(monkeypatch):
    """Local mode: a RAY_ADDRESS in the caller's environment would send these batches to that cluster."""
    monkeypatch.delenv("RAY_ADDRESS", raising=False)


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    root = tmp_path_factory.mktemp("batch")
    weights = save_tiny(root / "tiny.safetensors")
    (root / "in" / "sub").mkdir(parents=True)
    clips = [make_clip(root / "in" / "a.mp4", 8, seed=0), make_clip(root / "in" / "b.mkv", 9, seed=1),
             make_clip(root / "in" / "sub" / "c.mov", 10, seed=2)]
    long = make_clip(root / "long.mp4", 26, seed=5, cut_at=11, repeat=(17,), lossless=True, gop=4)
    return root, weights, clips, long, Interpolator(str(weights), precision="fp32")  # as MODEL: never "auto" in a reference


def batch(inputs, out, weights, **kwargs):
    kwargs.setdefault("options", dict(multi=2))
    kwargs.setdefault("progress", False)
    return run_batch([str(i) for i in inputs], out, model=dict(MODEL, weights=str(weights)), threads=1, **kwargs)


def inline(inputs, out, weights, **kwargs):
    """The batch logic in this process (workers=0): same units, no process start-up."""
    return batch(inputs, out, weights, workers=0, **kwargs)


def test_local_batch_is_identical_to_filmnet_video(setup):
    root, weights, clips, _, interp = setup
    result = batch([root / "in"], root / "out", weights, workers=2, report=root / "report.json")
    report = json.loads((root / "report.json").read_text())["files"]
    assert [e["status"] for e in report] == ["done"] * 3
    outs = [root / "out" / "a_2X_48fps.mp4", root / "out" / "b_2X_48fps.mkv", root / "out" / "sub" / "c_2X_48fps.mov"]
    for clip, out, entry in zip(clips, outs, report):
        ref = retime(clip, root / f"ref_{out.name}", interpolator=interp, multi=2)
        assert same_frames(ref.output, out)
        if out.suffix != ".mkv":  # Matroska stamps a random segment UID; x264 in MP4/MOV: same bytes
            assert out.read_bytes() == ref.output.read_bytes()
        assert entry["frames"] == ref.output_frames and entry["output"] == str(out)
        assert entry["worker"] and entry["seconds"] > 0 and entry["error"] is None
    assert result.ok and not list((root / "out").glob(".*filmnet-batch"))  # work folders removed


@pytest.mark.parametrize("dedupe", [False, True])
def test_long_clip_in_ranges_is_identical_to_unsplit(setup, dedupe):
    """Without dedupe, ranges seek to the keyframe before their first frame; with it, they decode from the start."""
    root, weights, _, long, interp = setup
    options = dict(multi=3, dedupe=dedupe)
    out = root / f"split_{dedupe}"
    split = batch([long], out, weights, options=options, range_frames=8, segment_frames=4, workers=0 if dedupe else 2)
    assert len(split.files[0].ranges) == 4
    assert all(bool(u.table) != dedupe for u in split.files[0].ranges)  # the planner indexed the file for seeking
    ref = retime(long, root / f"long_ref_{dedupe}.mp4", interpolator=interp, **options)
    assert ref.scene_cuts >= 1 and ref.duplicates_dropped == (1 if dedupe else 0)
    assert same_frames(out / "long_3X_72fps.mp4", ref.output)
    assert (out / "long_3X_72fps.mp4").read_bytes() == ref.output.read_bytes()
    assert split.files[0].frames == ref.output_frames == 78


@pytest.mark.parametrize("bframes", [False, True])
def test_ranges_seek_to_keyframes_and_match_a_full_decode(setup, tmp_path, bframes):
    from filmnet.inference.ranges import assemble_ranges

    root, _, _, long, interp = setup
    if bframes:  # reordered frames (pts != dts), a keyframe every 5 frames
        long = make_clip(tmp_path / "bframes.mp4", 20, seed=3, gop=5)
        with av.open(str(long)) as c:
            assert any(p.pts != p.dts for p in c.demux(video=0) if p.size)
    ranges = ((0, 3), (3, 5), (5, None))
    records = [render_range(long, tmp_path / f"r{first}", interpolator=interp, span=SegmentRange(first, stop), multi=2,
                            segment_frames=3) for first, stop in ranges]
    assert [r["seeked"] for r in records] == [False, True, False]  # the last range checks the whole stream
    assert records[-1]["input_frames"] == (20 if bframes else 26)
    whole, split = tmp_path / "whole.mkv", tmp_path / "split.mkv"
    retime(long, whole, interpolator=interp, multi=2, codec="ffv1")
    assemble_ranges(long, split, [tmp_path / f"r{first}" for first, _ in ranges], multi=2, codec="ffv1")
    assert same_frames(whole, split)


def test_range_renders_only_its_segments_and_stops(setup, tmp_path):
    root, _, _, long, interp = setup
    seen = []
    record = render_range(long, tmp_path / "r", interpolator=interp, span=SegmentRange(1, 3), multi=2, segment_frames=4,
                          on_frames=seen.append)
    assert sorted(record["segments"]) == [1, 2] and sum(seen) == record["frames"] == 16
    assert record["input_frames"] == 14  # its last pair is (11, 12); it stops on seeing pair 12 (frame 13)
    assert sorted(p.name for p in (tmp_path / "r").glob("segment_*")) == ["segment_000001.mkv", "segment_000002.mkv"]


def test_rerun_skips_verified_outputs_and_redoes_a_truncated_one(setup):
    root, weights, clips, _, _ = setup
    out = root / "rerun"
    inline(clips[:2], out, weights)
    a, b = out / "a_2X_48fps.mp4", out / "b_2X_48fps.mkv"
    good_a, good_b = a.read_bytes(), b.read_bytes()
    stamp = a.stat().st_mtime_ns
    (out / "b_good.mkv").write_bytes(good_b)
    b.write_bytes(good_b[: len(good_b) // 2])  # truncated
    again = inline(clips[:2], out, weights, report=out / "r.json")
    assert [f.status for f in again.files] == ["skipped", "done"]
    assert a.stat().st_mtime_ns == stamp and a.read_bytes() == good_a
    assert same_frames(b, out / "b_good.mkv")
    assert json.loads((out / "r.json").read_text())["files"][0]["status"] == "skipped"
    # other options: a new job; an output it did not write is never replaced without --force
    other = inline(clips[:1], out, weights, options=dict(multi=2, crf=30))
    assert other.files[0].status == "failed" and "--force" in other.files[0].error
    assert a.read_bytes() == good_a
    forced = inline(clips[:1], out, weights, options=dict(multi=2, crf=30), force=True)
    assert forced.files[0].status == "done" and a.read_bytes() != good_a


def test_interrupted_file_resumes_its_finished_segments(setup):
    root, weights, _, long, interp = setup
    out = root / "resume"
    out.mkdir()
    # what a batch killed mid-way leaves: the first range's work folder with its finished segments
    work = out / ".long_2X_48fps.mp4.filmnet-batch" / "range_000000-000002"
    work.parent.mkdir()
    render_range(long, work, interpolator=interp, span=SegmentRange(0, 2), multi=2, segment_frames=4)
    (work / "range.json").unlink()  # killed before the range was recorded as finished
    result = inline([long], out, weights, range_frames=8, segment_frames=4)
    assert result.files[0].status == "done" and result.files[0].segments_reused == 2
    assert same_frames(out / "long_2X_48fps.mp4", retime(long, root / "resume_ref.mp4", interpolator=interp,
                                                          multi=2).output)


def test_bad_file_is_reported_and_others_finish(setup, tmp_path):
    root, weights, clips, _, _ = setup
    bad = tmp_path / "broken.mp4"
    bad.write_bytes(b"not a video")
    result = inline([clips[0], bad], tmp_path / "out", weights, report=tmp_path / "r.json")
    report = {Path(e["input"]).name: e for e in json.loads((tmp_path / "r.json").read_text())["files"]}
    assert report["a.mp4"]["status"] == "done"
    assert report["broken.mp4"]["status"] == "failed" and "not a readable video" in report["broken.mp4"]["error"]
    assert not result.ok


def test_manifests_set_per_file_options(setup, tmp_path):
    root, weights, clips, _, interp = setup
    (tmp_path / "list.csv").write_text(f"input,multi,output\n{clips[0]},3,\n{clips[1]},,b_custom.mkv\n")
    (tmp_path / "list.jsonl").write_text(json.dumps({"path": str(clips[2]), "slowmo": 2, "dedupe": "yes"}) + "\n")
    items = collect([str(tmp_path / "list.csv"), str(tmp_path / "list.jsonl")])
    assert [i.options for i in items] == [{"multi": 3}, {}, {"slowmo": 2, "dedupe": True}]
    result = inline([tmp_path / "list.csv", tmp_path / "list.jsonl"], tmp_path / "out", weights)
    assert [f.out.name for f in result.files] == ["a_3X_72fps.mp4", "b_custom.mkv", "c_2X_24fps.mov"]
    assert all(f.status == "done" for f in result.files)
    ref = retime(clips[2], tmp_path / "c_ref.mov", interpolator=interp, slowmo=2, dedupe=True)
    assert same_frames(ref.output, tmp_path / "out" / "c_2X_24fps.mov")
    (tmp_path / "bad.csv").write_text("input,speed\nx.mp4,2\n")
    with pytest.raises(InputError, match="unknown column"):
        collect([str(tmp_path / "bad.csv")])


def test_inputs_folders_globs_and_missing(setup):
    root, _, clips, long, _ = setup
    assert [i.src for i in collect([str(root / "in")])] == [clips[0], clips[1], clips[2]]
    assert long in [i.src for i in collect([str(root / "*.mp4")])]
    assert [i.src for i in collect([str(root / "in" / "**" / "*.mov")])] == [clips[2]]
    with pytest.raises(InputError, match="does not exist"):
        collect([str(root / "nope.mp4")])


class KillingLocalExecutor(LocalExecutor):
    """SIGKILLs one worker process once units are in flight (the pool breaks; its units are retried)."""

    killed = False

    def wait(self, timeout):
        if not self.killed and self.futures:
            processes = dict(self.pool._processes or {})
            if processes:
                os.kill(next(iter(processes)), signal.SIGKILL)
                self.killed = True
        return super().wait(timeout)


def test_killed_worker_process_is_retried_with_identical_output(setup, tmp_path):
    root, weights, clips, _, interp = setup
    executor = KillingLocalExecutor(dict(MODEL, weights=str(weights)), workers=2, threads=1)
    result = batch(clips, tmp_path / "out", weights, executor=executor)
    assert executor.killed and [f.status for f in result.files] == ["done"] * 3
    for clip, out in zip(clips, result.files):
        assert same_frames(retime(clip, tmp_path / f"ref_{out.out.name}", interpolator=interp, multi=2).output,
                           out.out)


def test_cli_batch(setup, tmp_path, capsys):
    root, weights, clips, _, _ = setup
    args = ["batch", str(clips[0]), "-o", str(tmp_path / "out"), "--multi", "2", "--weights", str(weights),
            "--threads", "1", "--report", str(tmp_path / "r.json")]
    assert main(args) == 0
    assert "1 done, 0 skipped" in capsys.readouterr().out
    assert main(args) == 0
    assert "0 done, 1 skipped" in capsys.readouterr().out
    assert record_path(tmp_path / "out" / "a_2X_48fps.mp4").is_file()
    assert main(["batch", str(clips[0]), "-o", str(tmp_path / "o2")]) == 1
    assert "give one of --multi" in capsys.readouterr().err


def test_local_mode_needs_no_ray_and_ray_address_comes_from_the_environment(setup, tmp_path, monkeypatch):
    import subprocess
    import sys

    from filmnet.batch.run import ray_address

    root, weights, clips, _, _ = setup
    monkeypatch.delenv("RAY_ADDRESS", raising=False)
    assert ray_address(None) is None and ray_address("10.0.0.1:6379") == "10.0.0.1:6379"
    monkeypatch.setenv("RAY_ADDRESS", "head:6379")
    assert ray_address(None) == "head:6379"
    monkeypatch.delenv("RAY_ADDRESS")
    code = (f"import sys; from filmnet.cli import main; "
            f"code = main(['batch', {str(clips[0])!r}, '-o', {str(tmp_path / 'out')!r}, '--multi', '2', "
            f"'--weights', {str(weights)!r}, '--workers', '0']); "
            f"assert code == 0 and 'ray' not in sys.modules, (code, 'ray' in sys.modules)")
    subprocess.run([sys.executable, "-c", code], check=True, timeout=300, env=dict(os.environ))
    assert (tmp_path / "out" / "a_2X_48fps.mp4").is_file()


def test_outputs_inside_an_input_folder_are_not_inputs(setup, tmp_path):
    _, weights, clips, _, _ = setup
    (tmp_path / "in").mkdir()
    (tmp_path / "in" / "a.mp4").write_bytes(clips[0].read_bytes())
    first = inline([tmp_path / "in"], tmp_path / "in" / "out", weights)
    again = inline([tmp_path / "in"], tmp_path / "in" / "out", weights)
    assert [(f.src.name, f.status) for f in first.files] == [("a.mp4", "done")]
    assert [(f.src.name, f.status) for f in again.files] == [("a.mp4", "skipped")]


def test_truncated_file_fails_in_ranges_as_it_does_alone(setup, tmp_path):
    """A file cut short is an error for `filmnet video`; split into ranges, its last range finds the same damage."""
    interp = setup[-1]
    data = make_clip(tmp_path / "long.mkv", 26, seed=1).read_bytes()  # Matroska: the cut file still opens
    cut_src = tmp_path / "cut.mkv"
    cut_src.write_bytes(data[: int(len(data) * 0.6)])
    with pytest.raises(InputError):
        retime(cut_src, tmp_path / "alone.mkv", interpolator=interp, multi=2, codec="ffv1")
    ranges = ((0, 2), (2, None))
    with pytest.raises(InputError):
        for first, stop in ranges:
            render_range(cut_src, tmp_path / f"r{first}", interpolator=interp, span=SegmentRange(first, stop), multi=2,
                         segment_frames=3)


def test_report_and_outputs_never_replace_an_input(setup, tmp_path):
    root, weights, clips, _, _ = setup
    src = tmp_path / clips[0].name
    src.write_bytes(clips[0].read_bytes())
    before = src.read_bytes()
    with pytest.raises(InputError, match="--report"):
        batch([src], tmp_path / "out", weights, report=src)
    other = tmp_path / "other.mp4"  # a row may not name another input of the batch as its output, even with force
    other.write_bytes(before)
    manifest = tmp_path / "m.jsonl"
    manifest.write_text(json.dumps({"input": str(src), "output": str(other)}) + "\n")
    with pytest.raises(InputError, match="inside OUTDIR"):  # outside OUTDIR: refused before any file is planned
        inline([manifest, other], tmp_path / "out2", weights, force=True)
    (tmp_path / "out3").mkdir()
    (tmp_path / "out3" / "in").symlink_to(tmp_path, target_is_directory=True)  # inside OUTDIR, but a link out
    manifest.write_text(json.dumps({"input": str(src), "output": "in/other.mp4"}) + "\n")
    result = inline([manifest, other], tmp_path / "out3", weights, force=True)
    by_src = {f.src.name: f for f in result.files}
    assert by_src[src.name].status == "failed" and "outside the output folder" in by_src[src.name].error
    assert src.read_bytes() == before and other.read_bytes() == before
