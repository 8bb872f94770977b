"""The `filmnet serve` web page: a Gradio Blocks app over `handlers.py`.

Tabs: Photos (two or more images to a slow-motion mp4 + GIF preview + zip of PNGs, with a compare view) and Video
(retiming with a frame-counter progress bar and Cancel). Script endpoints with stable names:
`interpolate_photos(image0, image1, exp, model, pyramid_levels="auto")` -> (mp4 path, gif path, zip path, message)
and `retime_video(video, multi, model, pyramid_levels="auto")` -> (mp4 path, message).

Serving rules: one job at a time (a shared concurrency group with limit 1) behind a bounded queue; uploads over
`max_file_size` are refused by the server; files live in per-session folders under one temporary root (the only
`allowed_paths`), removed when the tab closes, after `SESSION_MAX_AGE_S`, at exit, and after a kill by the next
server (`handlers.new_server_root`); script endpoints check image headers before Gradio opens them; a refusal is
one line in the log, never a traceback; requests to fetch remote
URLs through `/file=` are refused; no analytics, no share links, system fonts only (nothing is fetched from the
internet); 127.0.0.1 unless the caller binds elsewhere.
"""

import logging
import os
import threading
from dataclasses import dataclass, field
from pathlib import Path

from ..errors import FilmError
from . import handlers as H

os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
log = logging.getLogger(__name__)

SESSION_MAX_AGE_S = 6 * 3600
CONCURRENCY_ID = "filmnet"  # photos and video share one worker
EXP_MODE, MULTI_MODE = "times to interpolate (2^T - 1 new frames per pair)", "frames per pair (N - 1 new frames)"
SEQUENCES = {"once": "plain", "seamless loop": "loop", "ping-pong": "pingpong"}  # hook (loops)
VIDEO_MULTI, VIDEO_FPS, VIDEO_SLOWMO = "x N frames (same duration)", "target fps", "slow motion x N"


@dataclass
class ServeConfig:
    host: str = "127.0.0.1"
    port: int = 7860
    model: str | None = None
    weights: str | None = None
    device: str = "cpu"
    precision: str = "auto"
    max_file_size_mb: int = 200
    queue_size: int = 8
    root_path: str | None = None
    temp_root: str | None = None  # default: a fresh folder in the system temp dir
    limits: H.Limits = field(default_factory=H.Limits)


def _gradio():
    try:
        import gradio as gr
    except ImportError:
        raise ImportError('gradio is not installed: pip install "filmnet[ui]"', name="gradio") from None
    return gr


class Server:
    """The state behind the page: model menu, loaded model, session folders and cancel flags."""

    def __init__(self, config: ServeConfig):
        self.config = config
        self.limits = H.Limits(**{**config.limits.__dict__, "max_upload_mb": config.max_file_size_mb})
        self.choices = H.model_choices(model=config.model, weights=config.weights)
        self.models = H.InterpolatorCache(device=config.device, precision=config.precision)
        root = config.temp_root or H.new_server_root()  # and the roots of dead servers go
        self.folders = H.SessionFolders(root)
        self._cancel: dict[str, threading.Event] = {}
        self._lock = threading.Lock()

    def cancel_flag(self, session: str | None) -> threading.Event:
        with self._lock:
            flag = self._cancel.setdefault(session or "", threading.Event())
            flag.clear()
            return flag

    def request_cancel(self, session: str | None) -> None:
        with self._lock:
            flag = self._cancel.get(session or "")
        if flag is not None:
            flag.set()

    def job(self, session: str | None) -> Path:
        self.folders.prune(SESSION_MAX_AGE_S)
        return self.folders.new_job(session)

    def close_session(self, session: str | None) -> None:
        with self._lock:
            self._cancel.pop(session or "", None)
        self.folders.close(session)

    def interpolator(self, model: str | None, pyramid_levels: int | str = "auto"):
        return self.models.get(H.pick_model(self.choices, model), pyramid_levels)


def _session(request) -> str | None:
    return getattr(request, "session_hash", None) if request is not None else None


def build_app(server: Server):
    """The Gradio Blocks for `server` (not launched)."""
    gr = _gradio()
    limits = server.limits
    menu = [(c.label, c.value) for c in server.choices]
    default_model = server.choices[0].value

    def refusal(err: BaseException):
        message = H.one_line(err)
        log.warning("refused: %s", message)  # one line in the server's log, never a traceback
        return gr.Error(message, print_exception=False)

    def checked_image(component):
        """Script endpoints' images: the header is checked before Gradio opens (or converts) anything."""

        def preprocess(payload):
            if payload is None:
                return None
            try:
                if getattr(payload, "path", None) is None:
                    raise H.InputError("send the image as a file upload")
                return str(H.check_image_upload(payload.path, limits))
            except (FilmError, OSError) as err:
                raise refusal(err) from None

        component.preprocess = preprocess
        return component

    def progress_fn(progress, what: str):
        def report(done: int, total: int) -> None:
            if total:
                progress((done, total), desc=f"{what}: frame {done} of {total}", unit="frames")
            else:
                progress(None, desc=f"{what}: frame {done}")
        return report

    def run_photos(values: dict, request: gr.Request, progress=gr.Progress()):
        v = values  # keyed by component (dict-style inputs)
        session = _session(request)
        try:
            options = H.PhotoRequest(
                exp=int(v[exp]) if v[mode] == EXP_MODE else None,
                multi=int(v[multi]) if v[mode] == MULTI_MODE else None, fps=v[fps], resize=bool(v[resize]), sequence=SEQUENCES.get(v[sequence], "plain"),
                pyramid_levels=v[depth])
            interp = server.interpolator(v[model], options.pyramid_levels)
            result = H.interpolate_photos(
                [getattr(f, "name", f) for f in (v[files] or [])], server.job(session), options, interpolator=interp,
                limits=limits, on_progress=progress_fn(progress, "interpolating"), cancel=server.cancel_flag(session))
        except (FilmError, OSError) as err:
            raise refusal(err) from None
        h, w = result.size
        note = f"{result.frames} frames, {w}x{h}, at {float(v[fps]):g} fps ({interp.precision} on {interp.device})"
        gallery = [(str(p), caption) for p, caption in result.compare]
        slider = _slider_pair(result)
        downloads = [str(result.mp4), str(result.gif), str(result.zip)]
        return str(result.mp4), str(result.gif), downloads, gallery, slider, note

    def api_photos(image0, image1, exp, model, pyramid_levels, request: gr.Request, progress=gr.Progress()):
        session = _session(request)
        try:
            options = H.PhotoRequest(exp=_int(exp, "exp"), pyramid_levels=pyramid_levels)
            result = H.interpolate_photos(
                [image0, image1], server.job(session), options,
                interpolator=server.interpolator(model, options.pyramid_levels), limits=limits,
                on_progress=progress_fn(progress, "interpolating"), cancel=server.cancel_flag(session))
        except (FilmError, OSError) as err:
            raise refusal(err) from None
        return str(result.mp4), str(result.gif), str(result.zip), f"{result.frames} frames"

    def run_video(values: dict, request: gr.Request, progress=gr.Progress()):
        v = values  # keyed by component (dict-style inputs)
        session = _session(request)
        try:
            options = H.VideoRequest(
                multi=int(v[vmulti]) if v[vmode] == VIDEO_MULTI else None,
                fps=str(v[vfps]) if v[vmode] == VIDEO_FPS else None,
                slowmo=int(v[vslowmo]) if v[vmode] == VIDEO_SLOWMO else None, scene_threshold=float(v[scene]),
                keep_audio=bool(v[keep_audio]), pyramid_levels=v[vdepth])
            result = H.retime_video(
                v[video_in], server.job(session), options,
                interpolator=server.interpolator(v[vmodel], options.pyramid_levels), limits=limits,
                on_progress=progress_fn(progress, "retiming"), cancel=server.cancel_flag(session))
        except (FilmError, OSError) as err:
            raise refusal(err) from None
        note = f"{result.input_frames} frames in, {result.output_frames} out at {result.fps} fps"
        note += "".join(f"\n\nnote: {n}" for n in result.notes)
        return str(result.mp4), str(result.mp4), note

    def api_video(video, multi, model, pyramid_levels, request: gr.Request, progress=gr.Progress()):
        session = _session(request)
        try:
            options = H.VideoRequest(multi=_int(multi, "multi"), pyramid_levels=pyramid_levels)
            result = H.retime_video(
                video, server.job(session), options, interpolator=server.interpolator(model, options.pyramid_levels),
                limits=limits, on_progress=progress_fn(progress, "retiming"), cancel=server.cancel_flag(session))
        except (FilmError, OSError) as err:
            raise refusal(err) from None
        return str(result.mp4), f"{result.output_frames} frames at {result.fps} fps"

    def depth_setting(elem_id: str):
        with gr.Accordion("Advanced", open=False):
            return gr.Dropdown(list(H.PYRAMID_DEPTHS), value="auto", label="Pyramid depth", elem_id=elem_id,
                               info="Levels of FILM's pyramid: deeper follows larger motion. auto picks one from "
                                    "the frame size; a depth too deep for the frames is refused.")

    def cancel(request: gr.Request):
        server.request_cancel(_session(request))
        gr.Info("cancelled")

    def unload(request: gr.Request):
        server.close_session(_session(request))

    heavy = dict(concurrency_limit=1, concurrency_id=CONCURRENCY_ID, show_progress="full")
    with gr.Blocks(title="filmnet: frame interpolation", analytics_enabled=False,
                   delete_cache=(3600, SESSION_MAX_AGE_S)) as demo:
        gr.Markdown("# filmnet\nFILM frame interpolation: drop two or more photos (or a video) and get slow motion.")
        with gr.Tab("Photos"):
            with gr.Row():
                with gr.Column():
                    files = gr.File(label="Photos, in time order (two or more)", file_count="multiple",
                                    file_types=["image"], elem_id="photos-files")
                    mode = gr.Radio([EXP_MODE, MULTI_MODE], value=EXP_MODE, label="How many new frames")
                    exp = gr.Slider(1, limits.max_exp, value=3, step=1, label="Times to interpolate",
                                    elem_id="photos-exp")
                    multi = gr.Slider(2, limits.max_multi, value=4, step=1, label="Frames per pair (N)")
                    fps = gr.Number(30, label="Frames per second", minimum=1, maximum=120)
                    sequence = gr.Radio(list(SEQUENCES), value="once", label="Play", elem_id="photos-sequence")
                    resize = gr.Checkbox(False, label="Resize to the first image",
                                         info="Photos of different sizes are refused unless this is ticked.")
                    model = gr.Dropdown(menu, value=default_model, label="Model")
                    depth = depth_setting("photos-depth")
                    with gr.Row():
                        run = gr.Button("Run", variant="primary", elem_id="photos-run")
                        stop = gr.Button("Cancel", variant="stop", elem_id="photos-cancel")
                with gr.Column():
                    video_out = gr.Video(label="Slow motion (mp4)", elem_id="photos-video", autoplay=True,
                                         loop=True, format=None)
                    gif_out = gr.Image(label="GIF preview", type="filepath", format="gif", elem_id="photos-gif")
                    downloads = gr.File(label="Downloads: mp4, GIF, zip of PNG frames", file_count="multiple")
                    status = gr.Markdown(elem_id="photos-status")
            with gr.Accordion("Compare: what the model adds", open=True):
                gr.Markdown("The input pair, FILM's middle frame, and a plain 50/50 blend of the pair. "
                            "Drag the slider to wipe between the blend (left) and FILM's frame (right).")
                gallery = gr.Gallery(label="input 1 | FILM middle frame | 50/50 blend | input 2", columns=4,
                                     rows=1, height=300, object_fit="contain", elem_id="photos-compare")
                slider = gr.ImageSlider(label="blend | FILM", type="filepath")
        with gr.Tab("Video"):
            with gr.Row():
                with gr.Column():
                    video_in = gr.Video(label="Video", sources=["upload"], format=None, elem_id="video-in")
                    vmode = gr.Radio([VIDEO_MULTI, VIDEO_FPS, VIDEO_SLOWMO], value=VIDEO_MULTI, label="Retime by")
                    vmulti = gr.Slider(2, limits.max_multi, value=2, step=1, label="N (x N frames at N x the fps)")
                    vfps = gr.Textbox("60", label="Target fps (e.g. 60 or 60000/1001)")
                    vslowmo = gr.Slider(2, limits.max_multi, value=4, step=1, label="Slow motion x N")
                    scene = gr.Slider(0, 2, value=0.72, step=0.01, label="Scene-cut threshold",
                                      info="Pairs scoring above it are held, not blended (2 = never).")
                    keep_audio = gr.Checkbox(True, label="Keep audio (stretched in slow motion)")
                    vmodel = gr.Dropdown(menu, value=default_model, label="Model")
                    vdepth = depth_setting("video-depth")
                    with gr.Row():
                        vrun = gr.Button("Run", variant="primary", elem_id="video-run")
                        vstop = gr.Button("Cancel", variant="stop", elem_id="video-cancel")
                with gr.Column():
                    vout = gr.Video(label="Result", format=None, elem_id="video-out")
                    vfile = gr.File(label="Download")
                    vstatus = gr.Markdown()
        with gr.Column(visible=False):  # script endpoints: stable names and signatures
            a_image0 = checked_image(gr.Image(type="filepath", label="image0"))
            a_image1 = checked_image(gr.Image(type="filepath", label="image1"))
            a_exp = gr.Number(3, label="exp", precision=0)
            a_model = gr.Textbox(default_model, label="model")
            a_depth = gr.Textbox("auto", label="pyramid_levels")
            a_mp4, a_gif, a_zip = gr.File(label="mp4"), gr.File(label="gif"), gr.File(label="zip")
            a_note = gr.Textbox(label="message")
            a_video = gr.File(label="video")
            a_multi = gr.Number(2, label="multi", precision=0)
            a_vmp4, a_vnote = gr.File(label="mp4"), gr.Textbox(label="message")
            a_photos_btn, a_video_btn = gr.Button(), gr.Button()

        photos_event = run.click(run_photos, {files, mode, exp, multi, fps, resize, model, sequence, depth},
                                 [video_out, gif_out, downloads, gallery, slider, status],
                                 api_visibility="private", **heavy)
        video_event = vrun.click(run_video, {video_in, vmode, vmulti, vfps, vslowmo, scene, keep_audio, vmodel, vdepth},
                                 [vout, vfile, vstatus], api_visibility="private", **heavy)
        api_photos_event = a_photos_btn.click(api_photos, [a_image0, a_image1, a_exp, a_model, a_depth],
                                              [a_mp4, a_gif, a_zip, a_note], api_name="interpolate_photos", **heavy)
        api_video_event = a_video_btn.click(api_video, [a_video, a_multi, a_model, a_depth], [a_vmp4, a_vnote],
                                            api_name="retime_video", **heavy)
        events = [photos_event, video_event, api_photos_event, api_video_event]
        for index, button in enumerate((stop, vstop)):  # a script may cancel its own session's jobs: /cancel
            button.click(cancel, None, None, cancels=events, queue=False, api_name="cancel" if index == 0 else None,
                         api_visibility="undocumented" if index == 0 else "private")
        demo.unload(unload)
    return demo


def _slider_pair(result: H.PhotoResult):
    by_caption = {caption: str(path) for path, caption in result.compare}
    pair = (by_caption.get("50/50 blend of the pair"), by_caption.get("FILM middle frame"))
    return pair if all(pair) else None


def _int(value, name: str) -> int:
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise H.InputError(f"{name} must be an integer, got {value!r}") from None
    if number != int(number):
        raise H.InputError(f"{name} must be an integer, got {value!r}")
    return int(number)


def theme():
    """Gradio's default look on system fonts, so the browser fetches no web fonts."""
    gr = _gradio()
    return gr.themes.Default(font=["system-ui", "Segoe UI", "Roboto", "Helvetica", "Arial", "sans-serif"],
                             font_mono=["ui-monospace", "SFMono-Regular", "Menlo", "Consolas", "monospace"])


def _stop_on_sigterm() -> None:
    """Let `kill` (SIGTERM) stop the server like Ctrl-C, so the session folders are removed."""
    import signal

    def interrupt(signum, frame):
        raise KeyboardInterrupt

    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGTERM, interrupt)


class _NoRemoteFiles:
    """ASGI middleware: refuse `/file=http(s)://...`, with which Gradio would fetch a URL for the client."""

    def __init__(self, app):
        self.app = app

    async def __call__(self, scope, receive, send):
        if scope.get("type") == "http":
            from urllib.parse import unquote

            path = unquote(scope.get("path", "")).lower()
            if "/file=" in path and ("http:" in path or "https:" in path or "//" in path.split("/file=", 1)[1]):
                await send({"type": "http.response.start", "status": 403,
                            "headers": [(b"content-type", b"text/plain")]})
                await send({"type": "http.response.body", "body": b"remote files are not served"})
                return
        await self.app(scope, receive, send)


def launch(config: ServeConfig, *, block: bool = True, announce=None):
    """Start the server; `announce(url)` once it listens. With `block=False` return (demo, server, url) and leave
    it running; otherwise serve until Ctrl-C, then remove every session folder."""
    os.environ["GRADIO_ANALYTICS_ENABLED"] = "False"
    server = Server(config)
    os.environ["GRADIO_TEMP_DIR"] = str(server.folders.root / "gradio")  # uploads and Gradio's cache
    gr = _gradio()
    from starlette.middleware import Middleware

    if block:
        _stop_on_sigterm()
    demo = build_app(server)
    demo.queue(default_concurrency_limit=1, max_size=config.queue_size)
    try:
        _, url, _ = demo.launch(
            server_name=config.host, server_port=config.port, share=False, inbrowser=False,
            prevent_thread_lock=True, quiet=True, show_error=True, max_file_size=f"{config.max_file_size_mb}mb",
            allowed_paths=[str(server.folders.root)], root_path=config.root_path, ssr_mode=False,
            mcp_server=False, pwa=False, enable_monitoring=False, theme=theme(),
            app_kwargs={"middleware": [Middleware(_NoRemoteFiles)]},
        )
    except BaseException:
        server.folders.close_all()
        raise
    if announce is not None:
        announce(url)
    if not block:
        return demo, server, url
    try:
        demo.block_thread()
    finally:
        demo.close()
        server.folders.close_all()
    return demo, server, url
