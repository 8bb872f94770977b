"""The media layer's shape (issue 23 item 3) and content probing (issue 25: a PNG renamed .mkv is not a video)."""
import ast
import logging
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

av = pytest.importorskip("av")

from filmnet.batch.inputs import collect  # noqa: E402
from filmnet.errors import InputError  # noqa: E402
from filmnet.io.media import media_kind, probe_video  # noqa: E402

SRC = Path(__file__).resolve().parents[2] / "src" / "filmnet"
MEDIA = SRC / "io" / "media"
MEDIA_SUFFIXES = {".png", ".jpg", ".jpeg", ".tif", ".tiff", ".mp4", ".m4v", ".mov", ".mkv", ".webm", ".avi", ".gif",
                  ".mpg", ".mpeg", ".ts", ".flv", ".wmv", ".h264", ".h265", ".264", ".265", ".hevc"}


def png(path: Path) -> Path:
    Image.fromarray(np.full((16, 16, 3), 90, np.uint8)).save(path, format="PNG")
    return path


def clip(path: Path) -> Path:
    from helpers import make_clip

    return make_clip(path, n=3)


# --- content, not suffix -----------------------------------------------------------------------------------------

def test_media_kind_reads_the_content(tmp_path):
    assert media_kind(png(tmp_path / "still.mkv")) == "image"
    jpg = tmp_path / "photo.mp4"
    Image.fromarray(np.zeros((8, 8, 3), np.uint8)).save(jpg, format="JPEG")
    assert media_kind(jpg) == "image"
    named_png = tmp_path / "clip.png"
    clip(tmp_path / "clip.mp4").rename(named_png)
    assert media_kind(named_png) == "video"
    (tmp_path / "notes.mp4").write_text("not a video at all\n" * 50)
    assert media_kind(tmp_path / "notes.mp4") == "unknown"
    assert media_kind(tmp_path / "missing.mp4") == "unknown"


def test_a_png_named_mkv_is_refused_as_a_video(tmp_path):
    with pytest.raises(InputError, match="still image"):
        probe_video(png(tmp_path / "still.mkv"))


def test_batch_folders_keep_only_real_videos(tmp_path, caplog):
    folder = tmp_path / "in"
    folder.mkdir()
    clip(folder / "a.mp4")
    png(folder / "b.mkv")
    with caplog.at_level(logging.WARNING):
        items = collect([str(folder)])
        globbed = collect([str(folder / "*.m*")])
    assert [i.src.name for i in items] == ["a.mp4"] == [i.src.name for i in globbed]
    assert "b.mkv" in caplog.text and "image" in caplog.text


# --- the layer's shape --------------------------------------------------------------------------------------------

def module_imports(path: Path) -> list[tuple[str, list[str]]]:
    """(relative module, imported names) for every `from .x import ...` in `path`, lazy imports included."""
    found = []
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.level == 1 and node.module:
            found.append((node.module, [a.name for a in node.names]))
    return found


def test_media_modules_import_no_private_names_and_form_no_circle():
    graph = {}
    for path in MEDIA.glob("*.py"):
        if path.name == "__init__.py":
            continue
        imports = module_imports(path)
        private = [(mod, n) for mod, names in imports for n in names if n.startswith("_")]
        assert not private, f"{path.name} imports private names {private}"
        graph[path.stem] = {mod.split(".")[0] for mod, _ in imports}

    def reach(start: str, node: str, seen: set) -> bool:
        for nxt in graph.get(node, ()):
            if nxt == start or (nxt not in seen and (seen.add(nxt) or reach(start, nxt, seen))):
                return True
        return False

    circles = [m for m in graph if reach(m, m, set())]
    assert not circles, f"import circles through {circles}"
    assert "decode" not in graph["folders"]  # the reading dispatch lives in decode.read_frames only


def suffix_literals(path: Path) -> list[int]:
    """Lines of tuple/list/set literals or dict keys holding 3+ media suffixes."""
    lines = []
    for node in ast.walk(ast.parse(path.read_text())):
        elts = node.elts if isinstance(node, (ast.Tuple, ast.List, ast.Set)) else \
            node.keys if isinstance(node, ast.Dict) else []
        values = [e.value for e in elts if isinstance(e, ast.Constant) and isinstance(e.value, str)]
        if sum(v.lower() in MEDIA_SUFFIXES for v in values) >= 3:
            lines.append(node.lineno)
    return lines


def test_media_suffix_lists_have_one_home():
    homes = {str(p.relative_to(SRC)): suffix_literals(p) for p in SRC.rglob("*.py")}
    assert {k for k, v in homes.items() if v} == {"io/media/kinds.py"}, homes
