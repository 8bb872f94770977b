"""Run one benchmark measurement in a fresh Python process, so its peak RSS is its own."""
from __future__ import annotations

import json
import subprocess
import sys


def run_worker(script: str, spec: dict, timeout: float | None) -> dict:
    """`python SCRIPT --worker JSON`; returns the JSON row it prints last, or `spec` plus an `error`."""
    cmd = [sys.executable, script, "--worker", json.dumps(spec)]
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        return dict(spec, error=f"timed out after {timeout} s")
    if proc.returncode != 0:
        return dict(spec, error=(proc.stderr.strip().splitlines() or [f"exit code {proc.returncode}"])[-1])
    return json.loads(proc.stdout.strip().splitlines()[-1])
