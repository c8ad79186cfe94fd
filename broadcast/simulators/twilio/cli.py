"""Foreground entry point: `broadcast simulator` serves the Twilio simulator until Ctrl-C."""

from __future__ import annotations

import os
import signal
import sys
import threading
from types import FrameType

from broadcast.simulators.twilio.server import TwilioSimulator

DEFAULT_PORT = 8021
STOP_SECONDS = 5.0  # uvicorn's graceful shutdown takes up to 2 s; past that, leave anyway (os._exit below)


def run_simulator(host: str, port: int, account_sid: str, auth_token: str) -> None:
    """Serve the simulator in the foreground, print its URL, stop cleanly on Ctrl-C or SIGTERM."""
    simulator = TwilioSimulator(account_sid, auth_token, host=host, port=port)
    if threading.current_thread() is threading.main_thread():

        def terminate(signum: int, frame: FrameType | None) -> None:
            raise KeyboardInterrupt

        signal.signal(signal.SIGTERM, terminate)
    # Everything after the server thread starts is inside the try: a Ctrl-C that lands before serve_forever (the
    # URL is printed, a caller may signal at once) must still stop that thread. Leaving it running made the
    # interpreter exit under uvloop's feet: SIGSEGV instead of a clean stop.
    try:
        url = simulator.start()
        print(f"Trình giả lập Twilio đang chạy tại {url} (tài khoản {account_sid}). Nhấn Ctrl-C để dừng.", flush=True)
        print(f"Đặt TWILIO_API_BASE_URL={url} để gửi tin qua trình giả lập; điều khiển lỗi tại {url}/_simulator/",
              flush=True)
        simulator.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        simulator.stop(timeout=STOP_SECONDS)
        print("Đã dừng trình giả lập Twilio.", flush=True)
    # The server thread ran uvloop; the interpreter's own teardown after such a thread has crashed with SIGSEGV
    # about once in twenty Ctrl-Cs (it did not with asyncio's loop, which is slower). Everything is stopped and
    # flushed: leave without that teardown.
    sys.stderr.flush()
    os._exit(0)
