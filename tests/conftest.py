import os
from pathlib import Path

import pytest
import torch

ROOT = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("FILMNET_SHARED", ROOT.parent / "shared"))
FIXTURES = SHARED / "fixtures" / "official_film"
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
    return need_shared(FIXTURES)


@pytest.fixture
def data_dir() -> Path:
    return need_shared(DATA)
