"""Decoding from the middle of a video: a keyframe index from the packets, seeking to a frame, and decoding ahead
in a background thread (`filmnet batch` renders ranges of long files this way)."""
from __future__ import annotations

from collections.abc import Iterator

from ...errors import InputError
from .decode import holds_gaps
from .formats import DecodedFrame, VideoInfo, array_format, frame_time, open_input, to_array


def keyframe_table(info: VideoInfo) -> tuple[list[int], list[int]] | None:
    """Presentation timestamps of a video file's frames in order (from its packets, no decoding) and the positions
    of its keyframes in that order; None when frames cannot be located by timestamp (a frame folder, a packet
    without a pts, repeated pts, an AVI with dropped-frame gaps, whose repeats `read_frames` counts as frames)."""
    if info.is_folder:
        return None
    pts, keys = [], set()
    with open_input(info.path) as container:
        stream = container.streams.video[0]
        gaps_repeat = holds_gaps(container)
        for packet in container.demux(stream):
            if not packet.size or packet.is_discard:
                continue
            if packet.pts is None:
                return None
            pts.append(packet.pts)
            if packet.is_keyframe:
                keys.add(packet.pts)
    order = sorted(pts)
    if not order or len(set(order)) != len(order):
        return None
    if gaps_repeat and order[-1] - order[0] + 1 != len(order):
        return None
    return order, [i for i, p in enumerate(order) if p in keys]


def read_frames_from(info: VideoInfo, first: int, table: tuple[list[int], list[int]]) -> Iterator[DecodedFrame]:
    """Frames `first`, `first` + 1, ... of a video file (indices and times as `read_frames` gives them), decoded
    from the last keyframe at or before frame `first`. Raises LookupError, before yielding anything, when the
    decoder does not land on frame `first` (read from the start instead); InputError on a later gap."""
    import av

    order, keys = table
    starts = [k for k in keys if k <= first]
    if not starts or first >= len(order):
        raise LookupError(f"no keyframe at or before frame {first}")
    index_of = {p: i for i, p in enumerate(order)}
    fmt, expected = array_format(info.depth, info.alpha), first
    with open_input(info.path) as container:
        stream = container.streams.video[0]
        stream.thread_type = "AUTO"
        container.seek(order[starts[-1]], stream=stream, backward=True, any_frame=False)
        try:
            for frame in container.decode(stream):
                index = index_of.get(frame.pts)
                if index is not None and index < first:
                    continue
                if index != expected:
                    if expected == first:
                        raise LookupError(f"seeking landed on frame {index}, not {first}")
                    raise InputError(f"{info.path}: frame {expected} is missing after seeking")
                yield DecodedFrame(index, *frame_time(frame, index, info.rate), to_array(frame, fmt))
                expected += 1
        except av.error.FFmpegError as err:
            raise InputError(f"{info.path}: decoding failed at frame {expected} ({err}); the file may be truncated")


def prefetch(items: Iterator, depth: int = 4) -> Iterator:
    """`items` produced by a background thread, up to `depth` ahead (decoding beside inference); exceptions are
    re-raised in the consumer, and closing this generator stops the thread and closes `items`."""
    import queue
    import threading

    buffer: queue.Queue = queue.Queue(maxsize=max(1, depth))
    stop, done = threading.Event(), object()

    def put(item) -> bool:
        while not stop.is_set():
            try:
                buffer.put(item, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def produce() -> None:
        try:
            for item in items:
                if not put((item, None)):
                    break
            else:
                put((done, None))
        except BaseException as err:  # handed to the consumer
            put((done, err))
        finally:
            close = getattr(items, "close", None)
            if close is not None:
                close()

    thread = threading.Thread(target=produce, name="filmnet-decode", daemon=True)
    thread.start()
    try:
        while True:
            item, err = buffer.get()
            if err is not None:
                raise err
            if item is done:
                return
            yield item
    finally:
        stop.set()
        thread.join()
