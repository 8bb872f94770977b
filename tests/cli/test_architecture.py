"""The import contract of docs/ARCHITECTURE.md: layers, no circles (import-linter, `.importlinter`), and no
module importing another module's `_private` names."""
import ast
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SRC = ROOT / "src" / "filmnet"


def private_imports(path: Path, root: Path = ROOT) -> list[str]:
    """`from X import _name` in `path` (dunders such as __version__ are public)."""
    found = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.ImportFrom) and node.module != "__future__":
            for alias in node.names:
                if alias.name.startswith("_") and not alias.name.startswith("__"):
                    found.append(f"{path.relative_to(root)}:{node.lineno}: from {'.' * node.level}{node.module or ''} "
                                 f"import {alias.name}")
    return found


def test_no_module_imports_another_modules_private_names():
    found = [line for path in sorted(SRC.rglob("*.py")) for line in private_imports(path)]
    assert not found, "\n".join(found)


def test_the_private_name_check_can_fail(tmp_path):
    bad = tmp_path / "bad.py"
    bad.write_text("from .video import _job_key\nfrom __future__ import annotations\nfrom x import __version__\n")
    assert [line.split(": ", 1)[1] for line in private_imports(bad, tmp_path)] == ["from .video import _job_key"]


def test_import_contract_holds():
    """Layers and no circles, lazy imports inside functions included (`lint-imports`, configured in .importlinter)."""
    pytest.importorskip("importlinter", reason="import-linter is a test dependency: pip install -e '.[test]'")
    exe = shutil.which("lint-imports", path=str(Path(sys.executable).parent)) or shutil.which("lint-imports")
    command = [exe] if exe else [sys.executable, "-c", "from importlinter.cli import lint_imports_command; "
                                                       "lint_imports_command()"]
    done = subprocess.run([*command, "--config", str(ROOT / ".importlinter"), "--no-cache"], cwd=ROOT / "src",
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-2000:]
    assert "Contracts: 2 kept, 0 broken." in done.stdout
