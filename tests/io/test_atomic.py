"""io.atomic: temp-then-replace writes, cleanup on error, default permissions, folder swaps."""
import os
import subprocess
import sys

import pytest

from filmnet.io.atomic import atomic_target, write_bytes_atomic, write_text_atomic


@pytest.fixture
def umask_022():
    old = os.umask(0o022)
    yield
    os.umask(old)


def test_success_replaces_target_with_default_mode(tmp_path, umask_022):
    target = tmp_path / "out.txt"
    target.write_text("old")
    with atomic_target(target) as tmp:
        assert tmp.parent == tmp_path and tmp.name.startswith(".out.txt.") and tmp.name.endswith(".part")
        tmp.write_text("new")
        assert target.read_text() == "old"  # nothing visible until the block ends
    assert target.read_text() == "new"
    assert os.listdir(tmp_path) == ["out.txt"]
    assert os.stat(target).st_mode & 0o777 == 0o644  # tempfile alone would give 0o600


def test_exception_keeps_old_target_and_removes_temp(tmp_path):
    target = tmp_path / "out.bin"
    target.write_bytes(b"old")
    with pytest.raises(RuntimeError, match="boom"):
        with atomic_target(target) as tmp:
            tmp.write_bytes(b"half")
            raise RuntimeError("boom")
    assert target.read_bytes() == b"old"
    assert os.listdir(tmp_path) == ["out.bin"]


def test_permissions_follow_umask_not_0600(tmp_path):
    old = os.umask(0o027)
    try:
        path = write_bytes_atomic(tmp_path / "a.bin", b"x")
    finally:
        os.umask(old)
    assert os.stat(path).st_mode & 0o777 == 0o640


def test_text_and_bytes_helpers(tmp_path):
    assert write_text_atomic(tmp_path / "t.json", "é\n").read_bytes() == "é\n".encode()
    assert write_bytes_atomic(tmp_path / "b.bin", b"\x00\x01").read_bytes() == b"\x00\x01"
    assert sorted(os.listdir(tmp_path)) == ["b.bin", "t.json"]


def test_folder_target(tmp_path, umask_022):
    target = tmp_path / "frames"
    target.mkdir()
    (target / "000000.png").write_bytes(b"old")
    with atomic_target(target, directory=True, replace_folder=True) as tmp:
        (tmp / "000000.png").write_bytes(b"new")
    assert (target / "000000.png").read_bytes() == b"new"
    assert os.stat(target).st_mode & 0o777 == 0o755
    assert os.listdir(tmp_path) == ["frames"]
    with pytest.raises(OSError):  # without replace_folder an existing folder is never replaced
        with atomic_target(target, directory=True) as tmp:
            (tmp / "000000.png").write_bytes(b"other")
    assert (target / "000000.png").read_bytes() == b"new" and os.listdir(tmp_path) == ["frames"]


def test_imports_only_stdlib():
    code = ("import sys, importlib.util; spec = importlib.util.spec_from_file_location('a', sys.argv[1]); "
            "m = importlib.util.module_from_spec(spec); spec.loader.exec_module(m); "
            "print(sorted(k for k in ('numpy', 'torch', 'PIL', 'av') if k in sys.modules))")
    import filmnet.io.atomic as atomic

    out = subprocess.run([sys.executable, "-c", code, atomic.__file__], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
