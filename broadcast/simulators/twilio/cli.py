"""Foreground entry point: `broadcast simulator` serves the Twilio simulator until Ctrl-C."""

from __future__ import annotations

import gc
import os
import signal
import sys
import threading

from broadcast.simulators.twilio.server import TwilioSimulator

DEFAULT_PORT = 8021
STOP_SECONDS = 5.0  # uvicorn's graceful shutdown takes up to 2 s; past that, leave anyway (os._exit below)


def run_simulator(host: str, port: int, account_sid: str, auth_token: str) -> None:
    """Serve the simulator in the foreground, print its URL, stop cleanly on Ctrl-C or SIGTERM."""
    simulator = TwilioSimulator(account_sid, auth_token, host=host, port=port)
    stops = {signal.SIGINT, signal.SIGTERM}
    in_main = threading.current_thread() is threading.main_thread()
    if in_main:
        # Ctrl-C and SIGTERM are blocked before the server thread exists (it inherits the mask) and taken below with
        # sigtimedwait: a signal that lands during start-up waits for us, and no asynchronous handler can miss it.
        # (With Python's own handler, a loaded CI run once sat 30 s after a Ctrl-C without KeyboardInterrupt.)
        signal.pthread_sigmask(signal.SIG_BLOCK, stops)
    try:
        url = simulator.start()
        print(f"Trình giả lập Twilio đang chạy tại {url} (tài khoản {account_sid}). Nhấn Ctrl-C để dừng.", flush=True)
        print(f"Đặt TWILIO_API_BASE_URL={url} để gửi tin qua trình giả lập; điều khiển lỗi tại {url}/_simulator/",
              flush=True)
        if in_main:
            while simulator.running:  # until a signal comes, or the server thread ends by itself
                # What the simulator records (every message, request and callback) lives as long as it does and
                # grows by thousands of objects a second: without this, Python's full collections scanned all of
                # it, and each pause bunched the arrival times it stamps (a province rehearsal at 300/s recorded
                # 332 in one second: 77 sliding windows over the budget; frozen twice a second: 298, none over).
                gc.freeze()
                if signal.sigtimedwait(stops, 0.5) is not None:
                    break
        else:
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
