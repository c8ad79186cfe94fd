"""A child for broadcast.sandbox tests: misbehaves in the way argv[1] names."""

from __future__ import annotations

import sys
import time


def main(mode: str) -> None:
    out = sys.stdout
    out.write('{"hello": 1}\n')
    out.flush()
    if mode == "memory":
        hoard = [bytearray(64 << 20) for _ in range(1000)]  # 64 GB, far past any limit
        out.write(f"{len(hoard)}\n")
    elif mode == "cpu":
        while True:
            pass
    elif mode == "sleep":
        time.sleep(600)
    elif mode == "stderr":
        sys.stderr.write("x" * (4 << 20))  # far more than a pipe holds: the parent must keep draining it
        sys.stderr.flush()
        out.write('{"done": true}\n')
    elif mode == "long-line":
        out.write("[" + "1," * (1 << 20) + "1]\n")
    elif mode == "rows":
        for i in range(int(sys.argv[2])):
            out.write(f"[{i}]\n")
    elif mode == "fail":
        raise RuntimeError("boom")


if __name__ == "__main__":
    main(sys.argv[1])
