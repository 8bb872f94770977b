"""The vendored golden set (tests/fixtures/official_film) is the shared one, byte for byte."""
import hashlib
import re

import pytest

from conftest import FIXTURES, SHARED_FIXTURES


def listed_sums() -> dict[str, str]:
    text = (FIXTURES / "PROVENANCE.md").read_text()
    return {path: digest for digest, path in re.findall(r"^([0-9a-f]{64})  \./(\S+)$", text, re.M)}


def sha256(path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_every_vendored_file_matches_its_recorded_sha256():
    sums = listed_sums()
    files = {p.relative_to(FIXTURES).as_posix() for p in FIXTURES.rglob("*") if p.is_file()} - {"PROVENANCE.md"}
    assert files == set(sums)
    assert {path: sha256(FIXTURES / path) for path in sums} == sums
    assert sum((FIXTURES / p).stat().st_size for p in files) <= 10_000_000


def test_vendored_files_equal_the_shared_fixtures():
    if not SHARED_FIXTURES.exists():
        pytest.skip(f"shared fixtures not found at {SHARED_FIXTURES}; the recorded sha256 were checked instead")
    for path, digest in listed_sums().items():
        assert sha256(SHARED_FIXTURES / path) == digest, path
