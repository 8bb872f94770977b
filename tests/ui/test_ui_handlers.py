"""The web page's logic without a server (filmnet.ui.handlers): inputs, outputs, models, folders, cancel."""
import threading
import types
import zipfile
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

import filmnet
from filmnet.errors import InputError
from filmnet.io import read_image
from filmnet.ui import handlers as H
from helpers import tiny_model
from ui_server import SIZE, audio_seconds, count_video_frames, write_pair, write_video


@pytest.fixture(scope="module")
def interp():
    return filmnet.Interpolator(tiny_model(), precision="fp32", max_memory=None)


@pytest.fixture
def pair(tmp_path):
    return write_pair(tmp_path)


def out_dir(tmp_path, name="out") -> Path:
    path = tmp_path / name
    path.mkdir()
    return path


# ---------------------------------------------------------------- photos


def test_photos_exp_writes_mp4_gif_zip_and_compare(tmp_path, pair, interp):
    calls = []
    result = H.interpolate_photos(pair, out_dir(tmp_path), H.PhotoRequest(exp=2, fps=12), interpolator=interp,
                                  on_progress=lambda done, total: calls.append((done, total)))
    assert result.frames == 5 and result.size == SIZE
    assert count_video_frames(result.mp4) == 5
    with Image.open(result.gif) as gif:
        assert gif.n_frames == 5
    with zipfile.ZipFile(result.zip) as archive:
        names = archive.namelist()
        assert names == [f"{i:06d}.png" for i in range(5)]
        with archive.open(names[2]) as middle_png:
            middle = np.asarray(Image.open(middle_png).convert("RGB"))
    assert middle.shape == SIZE + (3,)
    assert calls[0] == (0, 5) and calls[-1] == (5, 5) and [c[0] for c in calls] == sorted(c[0] for c in calls)
    captions = [caption for _, caption in result.compare]
    assert captions == ["input 1", "FILM middle frame", "50/50 blend of the pair", "input 2"]
    paths = {caption: path for path, caption in result.compare}
    film_middle = np.asarray(Image.open(paths["FILM middle frame"]).convert("RGB"))
    np.testing.assert_array_equal(film_middle, middle)  # the compare view shows the t = 0.5 frame
    blend = np.asarray(Image.open(paths["50/50 blend of the pair"]).convert("RGB")).astype(int)
    a, b = (np.asarray(Image.open(p).convert("RGB")).astype(int) for p in pair)
    assert np.abs(blend - (a + b) / 2).max() <= 1
    assert not (tmp_path / "out" / "frames").exists()  # the PNG folder went into the zip


def test_photos_multi_over_three_images(tmp_path, interp):
    paths = write_pair(tmp_path) + write_pair(tmp_path, shift=6, names=("c.png", "d.png"))[:1]
    result = H.interpolate_photos(paths, out_dir(tmp_path), H.PhotoRequest(multi=3), interpolator=interp)
    assert result.frames == 7 == count_video_frames(result.mp4)


@pytest.mark.parametrize("sequence, frames", [("loop", 9), ("pingpong", 12)])
def test_photos_loop_and_pingpong(tmp_path, interp, sequence, frames):
    """The Photos tab's "Play" choice: 3 photos with multi 3 give 3*3 (loop) or 2*2*3 (ping-pong) frames."""
    paths = write_pair(tmp_path) + write_pair(tmp_path, shift=6, names=("c.png", "d.png"))[:1]
    result = H.interpolate_photos(paths, out_dir(tmp_path), H.PhotoRequest(multi=3, sequence=sequence),
                                  interpolator=interp)
    assert result.frames == frames == count_video_frames(result.mp4)
    with zipfile.ZipFile(result.zip) as archive:
        pngs = [np.asarray(Image.open(archive.open(name)).convert("RGB")) for name in archive.namelist()]
    assert len(pngs) == frames
    if sequence == "pingpong":
        assert all(np.array_equal(pngs[k], pngs[frames - k]) for k in range(1, frames // 2))
    else:
        assert not np.array_equal(pngs[-1], pngs[0]) and not np.array_equal(pngs[-1], pngs[-2])
    with pytest.raises(InputError, match="unknown sequence mode"):
        H.interpolate_photos(paths, out_dir(tmp_path, "bad"), H.PhotoRequest(multi=3, sequence="twice"),
                             interpolator=interp)


def test_mismatched_sizes_are_refused_unless_resize(tmp_path, pair, interp):
    small = tmp_path / "small.png"
    Image.fromarray(np.zeros((64, 64, 3), np.uint8)).save(small)
    with pytest.raises(InputError, match=r"small.png is 64x64 but a.png is 96x64 .*Resize to the first image"):
        H.interpolate_photos([pair[0], small], out_dir(tmp_path), H.PhotoRequest(exp=1), interpolator=interp)
    assert list((tmp_path / "out").iterdir()) == []  # refused before anything was written
    result = H.interpolate_photos([pair[0], small], out_dir(tmp_path, "resized"), H.PhotoRequest(exp=1, resize=True),
                                  interpolator=interp)
    assert result.size == SIZE and result.frames == 3


@pytest.mark.parametrize("kwargs, message", [
    (dict(exp=0), "times to interpolate must be an integer from 1 to 6"),
    (dict(exp=7), "times to interpolate must be an integer from 1 to 6"),
    (dict(multi=1), "frames per pair must be an integer from 2 to 16"),
    (dict(exp=2, multi=2), "give exactly one of"),
    (dict(), "give exactly one of"),
])
def test_photo_options_are_checked(tmp_path, pair, interp, kwargs, message):
    with pytest.raises(InputError, match=message):
        H.interpolate_photos(pair, out_dir(tmp_path), H.PhotoRequest(**kwargs), interpolator=interp)


def test_photo_limits(tmp_path, pair, interp):
    with pytest.raises(InputError, match="need at least 2 images, got 1"):
        H.interpolate_photos(pair[:1], out_dir(tmp_path), H.PhotoRequest(exp=1), interpolator=interp)
    with pytest.raises(InputError, match="at most 2 images per request, got 3"):
        H.check_photos(pair + pair[:1], resize=False, limits=H.Limits(max_images=2))
    with pytest.raises(InputError, match="a.png is 96x64, over this server's limit of 1000 pixels"):
        H.check_photos(pair, resize=False, limits=H.Limits(max_pixels=1000))
    with pytest.raises(InputError, match="that would make 65 frames, over this server's limit of 64"):
        H.check_photo_options(2, 6, None, H.Limits(max_output_frames=64))
    with pytest.raises(InputError, match=r"a.png is 0.0 MB, over the 0 MB upload limit"):
        H.check_upload(pair[0], H.Limits(max_upload_mb=0), "image")
    with pytest.raises(InputError, match="no video was uploaded"):
        H.check_upload(None, H.Limits(), "video")
    bad = tmp_path / "bad.png"
    bad.write_bytes(b"not a png")
    with pytest.raises(InputError, match="bad.png"):
        H.check_photos([pair[0], bad], resize=False, limits=H.Limits())


def test_cancel_stops_photos_and_keeps_nothing(tmp_path, pair, interp):
    cancel = threading.Event()

    def progress(done, total):
        if done >= 2:
            cancel.set()

    out = out_dir(tmp_path)
    with pytest.raises(H.Cancelled, match="cancelled"):
        H.interpolate_photos(pair, out, H.PhotoRequest(exp=3), interpolator=interp, on_progress=progress, cancel=cancel)
    assert list(out.iterdir()) == []


# ---------------------------------------------------------------- video


def test_retime_video_counts_frames_and_reports_progress(tmp_path, interp):
    src = write_video(tmp_path / "clip.mp4", frames=6, fps=10)
    calls = []
    result = H.retime_video(src, out_dir(tmp_path), H.VideoRequest(multi=2), interpolator=interp,
                            on_progress=lambda done, total: calls.append((done, total)))
    assert result.mp4 == tmp_path / "out" / "clip_2X_20fps.mp4"
    assert (result.input_frames, result.output_frames, result.fps) == (6, 12, "20")
    assert count_video_frames(result.mp4) == 12
    assert calls[0] == (0, 12) and calls[-1] == (12, 12)
    slow = H.retime_video(src, out_dir(tmp_path, "slow"), H.VideoRequest(slowmo=2, keep_audio=True),
                          interpolator=interp)
    assert slow.output_frames == 12 and slow.fps == "10"


def test_retime_video_keeps_the_audio(tmp_path, interp):
    src = write_video(tmp_path / "clip.mp4", frames=10, fps=10, audio=True)
    seconds = audio_seconds(src)
    assert seconds > 0.9
    double = H.retime_video(src, out_dir(tmp_path), H.VideoRequest(multi=2), interpolator=interp)
    assert audio_seconds(double.mp4) == pytest.approx(seconds, abs=0.05)
    slow = H.retime_video(src, out_dir(tmp_path, "slow"), H.VideoRequest(slowmo=2, keep_audio=True),
                          interpolator=interp)
    assert audio_seconds(slow.mp4) == pytest.approx(2 * seconds, rel=0.05)
    silent = H.retime_video(src, out_dir(tmp_path, "silent"), H.VideoRequest(slowmo=2, keep_audio=False),
                            interpolator=interp)
    assert audio_seconds(silent.mp4) == 0 and any('"Keep audio"' in note for note in silent.notes)


def test_retime_video_cancel_removes_everything(tmp_path, interp):
    src = write_video(tmp_path / "clip.mp4", frames=6, fps=10)
    cancel = threading.Event()
    out = out_dir(tmp_path)
    with pytest.raises(H.Cancelled):
        H.retime_video(src, out, H.VideoRequest(multi=2), interpolator=interp, cancel=cancel,
                       on_progress=lambda done, total: cancel.set() if done else None)
    assert list(out.iterdir()) == []  # no output, no resumable work folder


def test_retime_video_refusals(tmp_path, interp):
    src = write_video(tmp_path / "clip.mp4", frames=4, fps=10)
    with pytest.raises(InputError, match="give exactly one of multi"):
        H.retime_video(src, out_dir(tmp_path), H.VideoRequest(), interpolator=interp)
    with pytest.raises(InputError, match="give exactly one of multi"):
        H.retime_video(src, tmp_path / "out", H.VideoRequest(multi=2, slowmo=2), interpolator=interp)
    with pytest.raises(InputError, match="multi must be from 2 to 16"):
        H.retime_video(src, tmp_path / "out", H.VideoRequest(multi=17), interpolator=interp)
    with pytest.raises(InputError, match="over this server's limit of 5"):
        H.retime_video(src, tmp_path / "out", H.VideoRequest(multi=2), interpolator=interp,
                       limits=H.Limits(max_output_frames=5))
    mkv = write_video(tmp_path / "clip.mkv", frames=4, fps=10)  # Matroska headers give no frame count
    with pytest.raises(InputError, match="over this server's limit of 5"):
        H.retime_video(mkv, tmp_path / "out", H.VideoRequest(multi=2), interpolator=interp,
                       limits=H.Limits(max_output_frames=5))
    not_video = tmp_path / "notes.txt"
    not_video.write_text("hello")
    with pytest.raises(InputError, match="notes.txt"):
        H.retime_video(not_video, tmp_path / "out", H.VideoRequest(multi=2), interpolator=interp)


# ---------------------------------------------------------------- models


def test_models_without_registry(tmp_path, monkeypatch):
    monkeypatch.setattr(H, "_hub", lambda: None)
    weights = tmp_path / "mine.safetensors"
    filmnet.save_model(tiny_model(), weights)
    choices = H.model_choices(weights=weights)
    assert [c.value for c in choices] == ["weights", "film_lite"]
    assert choices[0].spec == weights.resolve() and choices[1].spec == H.bundled_weights()
    assert H.bundled_weights().is_file()
    assert H.pick_model(choices, None) is choices[0] and H.pick_model(choices, "") is choices[0]
    assert H.pick_model(choices, "film_lite") is choices[1]
    assert H.pick_model(choices, choices[1].label) is choices[1]
    for bad in (str(weights), "/etc/passwd", "film_net"):  # a request never names a file on the server
        with pytest.raises(InputError, match="unknown model"):
            H.pick_model(choices, bad)
    assert [c.value for c in H.model_choices()] == ["film_lite"]
    with pytest.raises(InputError, match="unknown model 'film_net'; choose one of film_lite"):
        H.model_choices(model="film_net")
    with pytest.raises(InputError, match="weights not found"):
        H.model_choices(weights=tmp_path / "missing.safetensors")


def fake_hub(cached: set[str]):
    entry = lambda name, text: types.SimpleNamespace(name=name, description=text)  # noqa: E731
    models = {"film_net": entry("film_net", "official FILM"), "film_lite": entry("film_lite", "bundled"),
              "film_net_l1": entry("film_net_l1", "L1 variant")}
    aliases = {"film": "film_net"}

    def resolve_name(name):
        name = aliases.get(name, name)
        if name not in models:
            raise KeyError(name)
        return models[name]

    return types.SimpleNamespace(MODELS=models, DEFAULT_MODEL="film_net", is_cached=lambda n: n in cached,
                                 resolve_name=resolve_name)


def test_models_from_registry_mark_cached(monkeypatch):
    monkeypatch.setattr(H, "_hub", lambda: fake_hub({"film_net"}))
    choices = H.model_choices()
    assert [c.value for c in choices] == ["film_net", "film_net_l1", "film_lite"]  # cached default first
    assert choices[0].label.startswith("film_net (cached)")
    assert "not cached: downloads on first use" in choices[1].label
    assert choices[0].spec == "film_net" and choices[2].spec == H.bundled_weights()
    assert H.pick_model(choices, "film") is choices[0]  # registry aliases work
    monkeypatch.setattr(H, "_hub", lambda: fake_hub(set()))
    assert H.model_choices()[0].value == "film_lite"  # nothing cached: the bundled model, no download
    assert H.model_choices(model="film_net_l1")[0].value == "film_net_l1"
    with pytest.raises(InputError, match="unknown model 'nope'"):
        H.model_choices(model="nope")


def test_interpolator_cache_loads_once_per_model_and_depth():
    loads = []
    cache = H.InterpolatorCache(factory=lambda choice, levels: loads.append((choice.value, levels)) or object())
    a, b = H.ModelChoice("a", "A", "a"), H.ModelChoice("b", "B", "b")
    first = cache.get(a)
    assert cache.get(a, "auto") is first and cache.get(a, "") is first and loads == [("a", "auto")]
    cache.get(b)
    assert loads == [("a", "auto"), ("b", "auto")]
    deep = cache.get(b, "9")
    assert cache.get(b, 9) is deep and loads[-1] == ("b", 9) and len(loads) == 3  # one model loaded at a time


# ---------------------------------------------------------------- pyramid depth (issue 22)


def test_pyramid_depth_reaches_the_interpolator(tmp_path, monkeypatch):
    import filmnet.inference
    from filmnet.ui import app as ui_app

    made = []

    class Recorder:
        def __init__(self, spec, **options):
            made.append((spec, options))

    monkeypatch.setattr(filmnet.inference, "Interpolator", Recorder)
    cache = H.InterpolatorCache(device="cpu", precision="fp32")
    cache.get(H.ModelChoice("a", "A", "spec-a"), "9")
    cache.get(H.ModelChoice("a", "A", "spec-a"))
    assert made == [("spec-a", dict(device="cpu", precision="fp32", pyramid_levels=9)),
                    ("spec-a", dict(device="cpu", precision="fp32", pyramid_levels="auto"))]
    weights = tmp_path / "mine.safetensors"
    filmnet.save_model(tiny_model(), weights)
    server = ui_app.Server(ui_app.ServeConfig(weights=str(weights), temp_root=str(tmp_path / "root")))
    server.interpolator("", H.PhotoRequest(exp=1, pyramid_levels="6").pyramid_levels)  # as the page does
    assert made[-1] == (weights.resolve(), dict(device="cpu", precision="auto", pyramid_levels=6))
    server.folders.close_all()


def test_a_depth_runs_or_is_a_one_line_refusal(tmp_path, pair):
    cache = H.InterpolatorCache(factory=lambda choice, levels: filmnet.Interpolator(
        tiny_model(), precision="fp32", max_memory=None, pyramid_levels=levels))
    choice = H.ModelChoice("tiny", "tiny", "unused")
    six = cache.get(choice, H.PhotoRequest(exp=1, pyramid_levels=6).pyramid_levels)
    assert six.runner.levels == 6
    result = H.interpolate_photos(pair, out_dir(tmp_path), H.PhotoRequest(exp=1, pyramid_levels=6), interpolator=six)
    assert result.frames == 3
    too_deep = cache.get(choice, 11)
    out = out_dir(tmp_path, "deep")
    deep_message = r"11 pyramid levels is out of range for 128x64 \(WxH\) input: use \d+\.\.7"
    with pytest.raises(InputError, match=deep_message) as err:
        H.interpolate_photos(pair, out, H.PhotoRequest(exp=1, pyramid_levels=11), interpolator=too_deep)
    assert "\n" not in H.one_line(err.value) and list(out.iterdir()) == []
    src = write_video(tmp_path / "clip.mp4", frames=4, fps=10)
    with pytest.raises(InputError, match="11 pyramid levels is out of range"):
        H.retime_video(src, out, H.VideoRequest(multi=2, pyramid_levels=11), interpolator=too_deep)
    assert list(out.iterdir()) == []


@pytest.mark.parametrize("value", ["abc", "0", "-3", "2.5", "inf", "nan", True])
def test_bad_depth_values_are_refused(value):
    with pytest.raises(InputError, match=r"^pyramid depth must be auto or a whole number of levels, got "):
        H.PhotoRequest(exp=1, pyramid_levels=value)
    with pytest.raises(InputError, match="pyramid depth must be auto"):
        H.VideoRequest(multi=2, pyramid_levels=value)
    assert [H.check_depth(v) for v in (None, "", " AUTO ", "7", 9, 8.0)] == ["auto", "auto", "auto", 7, 9, 8]


# ---------------------------------------------------------------- folders


def test_session_folders(tmp_path):
    folders = H.SessionFolders(tmp_path / "root", keep=2)
    jobs = [folders.new_job("abc") for _ in range(3)]
    assert not jobs[0].exists() and jobs[1].is_dir() and jobs[2].is_dir()  # only the latest `keep` jobs
    escape = folders.new_job("../../etc")
    assert folders.root in escape.parents and escape.parent.name == "etc"
    other = folders.new_job(None)
    folders.close("abc")
    assert not jobs[2].exists() and other.exists()
    assert folders.prune(max_age_s=-1) == 2 and not other.exists()
    folders.close_all()
    assert not (tmp_path / "root").exists()


def test_read_back_matches_inputs(tmp_path, pair, interp):
    """The first and last frames of the mp4's PNG twin are the inputs (the page never crops or shifts them)."""
    result = H.interpolate_photos(pair, out_dir(tmp_path), H.PhotoRequest(exp=1), interpolator=interp)
    with zipfile.ZipFile(result.zip) as archive:
        archive.extractall(tmp_path / "png")
    first, last = read_image(tmp_path / "png" / "000000.png"), read_image(tmp_path / "png" / "000002.png")
    np.testing.assert_allclose(first, read_image(pair[0]), atol=1 / 255)
    np.testing.assert_allclose(last, read_image(pair[1]), atol=1 / 255)


# ---------------------------------------------------------------- the command


def test_serve_without_gradio_says_how_to_install(monkeypatch, capsys):
    import importlib.util

    from filmnet.cli import main

    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "gradio" else real(name, *a))
    assert main(["serve"]) == 1
    err = capsys.readouterr().err
    assert err == 'error: the web page needs Gradio: pip install "filmnet[ui]"\n'


def test_serve_refuses_model_and_weights_together(tmp_path, capsys):
    from filmnet.cli import main

    assert main(["serve", "--model", "film_lite", "--weights", str(tmp_path / "w.safetensors")]) == 1
    assert capsys.readouterr().err == "error: give --model NAME or --weights PATH, not both\n"


def test_the_pages_events_get_their_inputs_as_one_dict(tmp_path):
    """In process: the Photos and Video tabs' Run events (dict-style inputs) reach the handlers with the chosen
    pyramid depth, and a depth too deep for the frames is the page's one-line refusal."""
    import asyncio

    gr = pytest.importorskip("gradio")
    from filmnet.ui import app as ui_app

    weights = tmp_path / "mine.safetensors"
    filmnet.save_model(tiny_model(), weights)
    server = ui_app.Server(ui_app.ServeConfig(weights=str(weights), precision="fp32", temp_root=str(tmp_path / "r")))
    demo = ui_app.build_app(server)
    fns = {f.fn.__name__: f for f in demo.fns.values() if f.fn is not None}
    a, b = write_pair(tmp_path)
    photos = {"Photos, in time order (two or more)": [str(a), str(b)], "How many new frames": ui_app.EXP_MODE,
              "Times to interpolate": 1, "Frames per pair (N)": 4, "Frames per second": 30, "Play": "once",
              "Resize to the first image": False, "Model": "weights"}
    video = {"Video": str(write_video(tmp_path / "clip.mp4", frames=4, fps=10)), "Retime by": ui_app.VIDEO_MULTI,
             "N (x N frames at N x the fps)": 2, "Target fps (e.g. 60 or 60000/1001)": "60", "Slow motion x N": 4,
             "Scene-cut threshold": 0.72, "Keep audio (stretched in slow motion)": True, "Model": "weights"}

    def run(name, values, depth):
        block_fn = fns[name]
        assert block_fn.inputs_as_dict
        values = {**values, "Pyramid depth": depth}
        return asyncio.run(demo.call_function(block_fn, [values[c.label] for c in block_fn.inputs]))["prediction"]

    try:
        assert run("run_photos", photos, "6")[-1] == "3 frames, 96x64, at 30 fps (fp32 on cpu)"
        assert server.models.get(server.choices[0], 6).runner.levels == 6  # the loaded model, not a reload
        assert run("run_video", video, "auto")[-1] == "4 frames in, 8 out at 20 fps"
        with pytest.raises(gr.Error) as err:
            run("run_photos", photos, "11")
        assert err.value.message == "11 pyramid levels is out of range for 128x64 (WxH) input: use 5..7"
    finally:
        server.folders.close_all()
