"""Parsing untrusted files in a fresh, resource-limited Python process.

The spreadsheet and audio parsers run native code (calamine, libsndfile) that can allocate without bound
or abort the whole process on a hostile file. So they run in a child: a new interpreter, spawned rather
than forked from the threaded server, that caps its own address space and CPU time before importing
anything else, and writes JSON lines on stdout. The parent kills it when it stays silent past a
wall-clock budget, or when the caller stops reading. Whatever the child does, the caller gets its lines
or a ChildFailed; the server's memory and threads are never involved.

`python -m broadcast.sandbox LIMITS MODULE ARGS…` is the child's entry point (what `child_lines` runs).
"""

from __future__ import annotations

import json
import logging
import os
import resource
import runpy
import selectors
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Generator, Sequence
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from broadcast.config import Settings

log = logging.getLogger(__name__)

EXIT_MEMORY = 3  # the child caught a MemoryError
_CHUNK = 1 << 16
_STDERR_TAIL = 2000
# Native libraries must not start thread pools whose stacks would eat the address-space limit.
_CHILD_ENV = {"OPENBLAS_NUM_THREADS": "1", "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1", "RUST_BACKTRACE": "0"}


@dataclass(frozen=True)
class ChildLimits:
    """What a parser process may use: address space, CPU seconds, seconds waited for its output, file size,
    and how many such processes this server runs at once."""

    memory_bytes: int
    cpu_seconds: int
    timeout_seconds: float
    file_bytes: int | None = None  # largest file it may write (RLIMIT_FSIZE); None: unlimited
    processes: int = 2
    # How long a request waits for a free slot: briefly, since it holds one of the server's worker threads.
    slot_wait_seconds: float = 5.0

    @classmethod
    def from_settings(cls, settings: Settings, *, file_bytes: int | None = None) -> ChildLimits:
        timeout = settings.parser_timeout_seconds
        return cls(settings.parser_memory_mb << 20, settings.parser_cpu_seconds, timeout, file_bytes,
                   settings.parser_processes, min(5.0, timeout))


BUSY_MESSAGE = "Máy chủ đang đọc nhiều tệp tải lên khác; hãy thử lại sau ít phút."


class ChildFailed(Exception):
    """The parser process did not finish: reason is memory, cpu, timeout, output (line too long), crash, or
    busy (no free slot: as many parsers as allowed kept running while it waited)."""

    def __init__(self, reason: str, detail: str = "") -> None:
        super().__init__(f"{reason}: {detail}" if detail else reason)
        self.reason = reason
        self.detail = detail


def child_lines(module: str, args: Sequence[str], limits: ChildLimits, *,
                max_line_bytes: int) -> Generator[bytes, None, None]:
    """Run `python -m module args…` under `limits` and yield its stdout lines (without the newline).

    The process starts at the first next() and is killed when the generator is closed early; the
    timeout counts only the time spent waiting for output, not the time the caller spends on each line.
    Raises ChildFailed when the process exits non-zero, is killed, or writes a line over max_line_bytes.
    """
    slots = _slots(limits.processes)
    if not slots.acquire(timeout=limits.slot_wait_seconds):
        raise ChildFailed("busy", f"{limits.processes} parsers already running")
    try:
        yield from _run(module, args, limits, max_line_bytes)
    finally:
        slots.release()


def _run(module: str, args: Sequence[str], limits: ChildLimits, max_line_bytes: int) -> Generator[bytes, None, None]:
    argv = [sys.executable, "-m", "broadcast.sandbox", json.dumps(asdict(limits)), module, *args]
    proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            env={**os.environ, **_CHILD_ENV}, close_fds=True)
    assert proc.stdout is not None and proc.stderr is not None
    stderr = bytearray()
    try:
        budget = yield from _read(proc, limits.timeout_seconds, max_line_bytes, stderr)
        try:
            code = proc.wait(timeout=max(budget, 0.5))
        except subprocess.TimeoutExpired:
            raise ChildFailed("timeout", f"no exit after {limits.timeout_seconds:g} s") from None
        if code != 0:
            reason = _reason(code)
            tail = stderr.decode("utf-8", "replace").strip()[-_STDERR_TAIL:]
            log.warning("parser %s stopped (%s, exit %s): %s", module, reason, code, tail)
            raise ChildFailed(reason, tail)
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.wait()
        proc.stdout.close()
        proc.stderr.close()


_slot_lock = threading.Lock()
_slot_pools: dict[int, threading.BoundedSemaphore] = {}


def _slots(processes: int) -> threading.BoundedSemaphore:
    """The server-wide pool of parser slots (one per configured size: tests build apps with other settings)."""
    with _slot_lock:
        return _slot_pools.setdefault(processes, threading.BoundedSemaphore(processes))


def _read(proc: subprocess.Popen[bytes], timeout: float, max_line: int,
          stderr: bytearray) -> Generator[bytes, None, float]:
    """Yield stdout lines while draining stderr; returns the unused part of the wall-clock budget."""
    assert proc.stdout is not None and proc.stderr is not None
    out_fd, err_fd = proc.stdout.fileno(), proc.stderr.fileno()
    with selectors.DefaultSelector() as selector:
        selector.register(out_fd, selectors.EVENT_READ)
        selector.register(err_fd, selectors.EVENT_READ)
        pending = b""
        open_fds = 2
        while open_fds:
            started = time.monotonic()
            ready = selector.select(timeout=max(timeout, 0.0))
            timeout -= time.monotonic() - started
            if not ready:
                raise ChildFailed("timeout", "no output in time")
            for key, _ in ready:
                chunk = os.read(key.fd, _CHUNK)
                if not chunk:
                    selector.unregister(key.fd)
                    open_fds -= 1
                elif key.fd == err_fd:
                    stderr += chunk
                    del stderr[:-_STDERR_TAIL * 2]
                else:
                    *lines, pending = (pending + chunk).split(b"\n")
                    for line in lines:
                        if len(line) > max_line:
                            raise ChildFailed("output", f"a line of {len(line)} bytes")
                        yield line
                    if len(pending) > max_line:
                        raise ChildFailed("output", f"a line of more than {max_line} bytes")
        if pending:
            yield pending
    return timeout


def _reason(code: int) -> str:
    if code == EXIT_MEMORY or code == -signal.SIGABRT:  # Rust aborts when an allocation fails
        return "memory"
    if code in (-signal.SIGXCPU, -signal.SIGKILL):
        return "cpu"
    if code == -signal.SIGXFSZ:
        return "output"
    return "crash"


# ---- the child's side -----------------------------------------------------------------------------


def _limit(kind: int, soft: int, hard: int) -> None:
    """Lower a limit (never above what the service itself was started with)."""
    current = resource.getrlimit(kind)[1]
    if current != resource.RLIM_INFINITY:
        soft, hard = min(soft, current), min(hard, current)
    resource.setrlimit(kind, (soft, hard))


def _apply(limits: ChildLimits) -> None:
    """Cap this process before it touches the file; CPU past the soft limit ends it with SIGXCPU."""
    try:  # if the machine still runs out of memory, the kernel kills this process first, not the server
        with open("/proc/self/oom_score_adj", "w") as adj:
            adj.write("1000")
    except OSError:
        pass
    _limit(resource.RLIMIT_CORE, 0, 0)  # no core files from a killed parser
    _limit(resource.RLIMIT_AS, limits.memory_bytes, limits.memory_bytes)
    _limit(resource.RLIMIT_CPU, limits.cpu_seconds, limits.cpu_seconds + 5)
    if limits.file_bytes is not None:
        _limit(resource.RLIMIT_FSIZE, limits.file_bytes, limits.file_bytes)


def main(argv: list[str]) -> None:
    limits = ChildLimits(**json.loads(argv[1]))
    _apply(limits)
    sys.argv = argv[2:]
    try:
        runpy.run_module(argv[2], run_name="__main__", alter_sys=True)
    except MemoryError:
        os._exit(EXIT_MEMORY)


if __name__ == "__main__":
    main(sys.argv)
