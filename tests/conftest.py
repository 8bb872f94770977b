import atexit
import os
import shutil
import tempfile
from pathlib import Path

import pytest
import torch

ROOT = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("FILMNET_SHARED", ROOT.parent / "shared"))
SHARED_FIXTURES = SHARED / "fixtures" / "official_film"
# The compact golden set (tiny SavedModel, its cases, the t != 0.5 cases, the op fixtures) is vendored, so the
# parity tests run on a fresh clone; tests/fixtures/official_film/PROVENANCE.md says where it comes from.
FIXTURES = ROOT / "tests" / "fixtures" / "official_film"
DATA = SHARED / "data"

# Tests are small; one thread avoids OpenMP stalls when the other core is busy.
torch.set_num_threads(int(os.environ.get("FILMNET_TEST_THREADS", "1")))


def need_shared(path: Path) -> Path:
    """Return `path`, or skip the test with a clear reason when ../shared is absent."""
    if not path.exists():
        pytest.skip(f"shared fixture/data not found at {path} (set FILMNET_SHARED or place ../shared beside the repo)")
    return path


@pytest.fixture
def fixtures_dir() -> Path:
    """The vendored golden set (always present in a clone)."""
    return FIXTURES


@pytest.fixture
def real_metadata_dir() -> Path:
    """The real official SavedModels' metadata files: only in ../shared (2.9 MB, not vendored)."""
    return need_shared(SHARED_FIXTURES / "real_metadata")


@pytest.fixture
def data_dir() -> Path:
    return need_shared(DATA)


# No test touches the network or ~/.cache: the model cache is a fresh folder and downloads are off
# (tests that download set FILMNET_MIRROR to a loopback server and unset FILMNET_OFFLINE themselves).
_HOME = tempfile.mkdtemp(prefix="filmnet-test-home-")
atexit.register(shutil.rmtree, _HOME, ignore_errors=True)
os.environ["FILMNET_HOME"] = _HOME
os.environ["FILMNET_OFFLINE"] = "1"
os.environ.pop("FILMNET_MIRROR", None)

# Hypothesis profiles (issue 16, rule 10): a short "ci" run by default, a long "dev" one with HYPOTHESIS_PROFILE=dev.
try:
    from hypothesis import HealthCheck, settings

    settings.register_profile("ci", max_examples=60, deadline=None, derandomize=True,
                              suppress_health_check=[HealthCheck.too_slow])
    settings.register_profile("dev", max_examples=3000, deadline=None,
                              suppress_health_check=[HealthCheck.too_slow])
    settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))
except ImportError:  # hypothesis is a test extra; only the fuzz tests need it
    pass
