"""Helpers shared by the benchmark scripts; not a benchmark.

- ``best_of(func, repeat)``: the fastest of ``repeat`` calls, in seconds;
- ``run_child(script, args, tree)``: run ``script`` with ``args`` in a fresh Python
  process whose PYTHONPATH is ``tree`` (OPENBLAS_NUM_THREADS=1), and return the JSON
  object on the last line of its standard output;
- ``worktree(rev)``: a context manager giving a temporary detached git worktree of
  this repository at ``rev``, removed on exit;
- ``machine(packages, ram=False)``: the lines that describe the machine in a results
  file (platform, CPU, load average, Python and package versions).

The scripts are run as ``python benchmarks/X.py``, so this module is importable from
them as ``_bench_common`` (``sys.path[0]`` is this folder). It imports no skmipool, so
a child process measures the tree on its PYTHONPATH.
"""

from __future__ import annotations

import importlib.metadata as md
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("skmipool", "numpy", "scipy", "pandas", "scikit-learn", "statsmodels")


def best_of(func: Callable[[], object], repeat: int) -> float:
    """The fastest of ``repeat`` calls of ``func``, in seconds."""
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        func()
        times.append(time.perf_counter() - start)
    return min(times)


def run_child(script: Path, args: list[str], tree: Path) -> dict:
    """Run ``script args`` in a fresh process measuring ``tree``; its last line as JSON."""
    env = dict(os.environ, PYTHONPATH=str(tree), OPENBLAS_NUM_THREADS="1")
    out = subprocess.run(
        [sys.executable, str(Path(script).resolve()), *args],
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    return json.loads(out.stdout.strip().splitlines()[-1])


@contextmanager
def worktree(rev: str) -> Iterator[Path]:
    """A detached git worktree of ROOT at ``rev`` in a temporary folder, removed on exit."""
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "before"
        subprocess.run(
            ["git", "-C", str(ROOT), "worktree", "add", "--detach", str(path), rev],
            check=True,
            capture_output=True,
        )
        try:
            yield path
        finally:
            subprocess.run(
                ["git", "-C", str(ROOT), "worktree", "remove", "--force", str(path)], check=True
            )


def _version(package: str) -> str:
    try:
        return md.version(package)
    except md.PackageNotFoundError:
        return "absent"


def machine(packages: Iterable[str] = PACKAGES, ram: bool = False) -> str:
    """Markdown list lines: platform; CPU model, logical CPUs (with the RAM if ``ram``)
    and the load average now; Python and the versions of ``packages``."""
    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as fh:
            names = [ln.split(":", 1)[1].strip() for ln in fh if ln.startswith("model name")]
        cpu = names[0] if names else cpu
    except OSError:
        pass
    versions = ", ".join(f"{p} {_version(p)}" for p in packages)
    try:
        load = ", ".join(f"{v:.2f}" for v in os.getloadavg())
    except OSError:
        load = "n/a"
    memory = ""
    if ram:
        memory = "? RAM; "
        try:
            with open("/proc/meminfo") as fh:
                kb = int(next(ln for ln in fh if ln.startswith("MemTotal")).split()[1])
            memory = f"{kb / 2**20:.0f} GB RAM; "
        except (OSError, StopIteration):
            pass
    return "\n".join(
        [
            f"- platform: {platform.platform()}",
            f"- CPU: {cpu}; {os.cpu_count()} logical CPUs (shared); {memory}"
            f"load average at start: {load}",
            f"- Python {platform.python_version()}; {versions}",
        ]
    )
