"""Directories that fail like real disks: a tiny tmpfs that fills up, one mounted read-only.

Mounting needs root (CI runs as root); elsewhere the tests that need it are skipped (or failed under
BROADCAST_TESTS_STRICT=1), like those that need PostgreSQL.
"""

from __future__ import annotations

import contextlib
import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

from tests.support.needs import missing


@contextlib.contextmanager
def tmpfs(path: Path, *, size_kb: int = 64, read_only: bool = False) -> Iterator[Path]:
    """`path` as a fresh tmpfs of `size_kb` (read-only when asked) for the duration of the block."""
    if os.geteuid() != 0:
        missing("root (to mount a small tmpfs)")
    path.mkdir(parents=True, exist_ok=True)
    options = f"size={size_kb}k" + (",ro" if read_only else "")
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", options, "tmpfs", str(path)], capture_output=True, text=True,
                          check=False)
    if done.returncode:
        missing(f"mount (tmpfs refused: {done.stderr.strip()})")
    try:
        yield path
    finally:
        subprocess.run(["umount", "-l", str(path)], capture_output=True, check=False)


def fill(directory: Path) -> None:
    """Write into `directory` until its filesystem is full."""
    fd = os.open(directory / "filler", os.O_WRONLY | os.O_CREAT)
    try:
        with contextlib.suppress(OSError):
            while True:
                os.write(fd, b"\0" * 4096)
    finally:
        os.close(fd)
