"""Foreground entry point: `broadcast simulator` serves the Twilio simulator until Ctrl-C."""

from __future__ import annotations

import signal
import threading
from types import FrameType

from broadcast.simulators.twilio.server import TwilioSimulator

DEFAULT_PORT = 8021


def run_simulator(host: str, port: int, account_sid: str, auth_token: str) -> None:
    """Serve the simulator in the foreground, print its URL, stop cleanly on Ctrl-C or SIGTERM."""
    simulator = TwilioSimulator(account_sid, auth_token, host=host, port=port)
    url = simulator.start()
    print(f"Trình giả lập Twilio đang chạy tại {url} (tài khoản {account_sid}). Nhấn Ctrl-C để dừng.", flush=True)
    print(f"Đặt TWILIO_API_BASE_URL={url} để gửi tin qua trình giả lập; điều khiển lỗi tại {url}/_simulator/",
          flush=True)
    if threading.current_thread() is threading.main_thread():

        def terminate(signum: int, frame: FrameType | None) -> None:
            raise KeyboardInterrupt

        signal.signal(signal.SIGTERM, terminate)
    try:
        simulator.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        simulator.stop()
        print("Đã dừng trình giả lập Twilio.", flush=True)
