"""Benchmark: the Twilio simulator's own cost, so dispatcher benchmarks know their baseline.

Run: .venv/bin/python bench/bench_simulator_baseline.py [--messages 2000] [--threads 16] [--latency 0.02]
Measured side by side in one run, for the simulator in a background thread of this process
(TwilioSimulator, as the tests use it) and in a child process (SimulatorProcess, no shared GIL):
  1. bare sequential `client.messages.create` through the twilio SDK (the dispatcher's baseline),
  2. raw httpx POSTs on one keep-alive connection (the simulator alone, no SDK),
  3. the same SDK creates from N threads,
  4. with injected latency: sequential vs N threads (shows latency is non-blocking),
  5. with status callbacks to a loopback sink (callback delivery rate; in-thread only).
"""

from __future__ import annotations

import argparse
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import httpx  # noqa: E402

from broadcast.channels.twilio.client import make_twilio_client  # noqa: E402
from broadcast.simulators.twilio import TwilioSimulator  # noqa: E402
from broadcast.simulators.twilio.process import SimulatorControl, SimulatorProcess  # noqa: E402
from broadcast.simulators.twilio.testing import SIM_ACCOUNT_SID, SIM_AUTH_TOKEN, callback_sink  # noqa: E402

FROM = "+15005550006"


def _rate(count: int, seconds: float) -> float:
    return count / seconds if seconds > 0 else float("inf")


def sdk_sequential(base_url: str, count: int, callback: str | None = None) -> float:
    """Messages per second from one thread using the SDK."""
    client = make_twilio_client(SIM_ACCOUNT_SID, SIM_AUTH_TOKEN, base_url)
    client.messages.create(to="+84900000000", from_=FROM, body="warm-up")
    started = time.perf_counter()
    for i in range(count):
        client.messages.create(to=f"+849{i:08d}", from_=FROM, body="Thông báo pháp luật", status_callback=callback)
    return _rate(count, time.perf_counter() - started)


def sdk_threaded(base_url: str, count: int, threads: int) -> float:
    """Messages per second from `threads` threads sharing one SDK client."""
    client = make_twilio_client(SIM_ACCOUNT_SID, SIM_AUTH_TOKEN, base_url)
    started = time.perf_counter()
    with ThreadPoolExecutor(max_workers=threads) as pool:
        list(pool.map(lambda i: client.messages.create(to=f"+849{i:08d}", from_=FROM, body="x"), range(count)))
    return _rate(count, time.perf_counter() - started)


def raw_httpx(base_url: str, count: int) -> float:
    """Messages per second with a bare keep-alive httpx client (no SDK)."""
    url = f"{base_url}/2010-04-01/Accounts/{SIM_ACCOUNT_SID}/Messages.json"
    with httpx.Client(auth=(SIM_ACCOUNT_SID, SIM_AUTH_TOKEN)) as http:
        started = time.perf_counter()
        for i in range(count):
            http.post(url, data={"To": f"+849{i:08d}", "From": FROM, "Body": "x"}).raise_for_status()
        return _rate(count, time.perf_counter() - started)


def measure(label: str, url: str, control: TwilioSimulator | SimulatorControl, n: int, threads: int,
            latency: float) -> float:
    """Print one block of measurements; returns the sequential SDK rate."""
    seq = sdk_sequential(url, n)
    raw = raw_httpx(url, n)
    par = sdk_threaded(url, n, threads)
    print(f"[{label}]")
    print(f"  SDK sequential create       : {seq:8.0f} msg/s  ({1000 / seq:.2f} ms/request)")
    print(f"  raw httpx keep-alive create : {raw:8.0f} msg/s  (SDK overhead ×{raw / seq:.2f})")
    print(f"  SDK {threads:2d} threads             : {par:8.0f} msg/s  (×{par / seq:.2f} vs sequential)")
    control.set_latency(latency)
    small = max(threads * 4, min(n // 10, 400))
    seq_lat = sdk_sequential(url, small)
    par_lat = sdk_threaded(url, small, threads)
    print(f"  latency {latency * 1000:.0f} ms, sequential  : {seq_lat:8.0f} msg/s")
    print(f"  latency {latency * 1000:.0f} ms, {threads:2d} threads  : {par_lat:8.0f} msg/s  "
          f"(×{par_lat / seq_lat:.1f} vs sequential, ideal ×{threads})")
    control.set_latency(0)
    return seq


def main() -> None:
    """Run every measurement and print rates and ratios."""
    parser = argparse.ArgumentParser()
    parser.add_argument("--messages", type=int, default=2000)
    parser.add_argument("--threads", type=int, default=16)
    parser.add_argument("--latency", type=float, default=0.02)
    args = parser.parse_args()
    n, threads = args.messages, args.threads

    with SimulatorProcess() as remote:
        child = measure("simulator in a child process", remote.base_url, remote, n, threads, args.latency)
    with TwilioSimulator(SIM_ACCOUNT_SID, SIM_AUTH_TOKEN, record_requests=False) as sim:
        local = measure("simulator in a thread of this process", sim.base_url, sim, n, threads, args.latency)
        print(f"in-thread / child-process sequential rate: ×{local / child:.2f}")
        with callback_sink() as sink:
            sim.reset()
            started = time.perf_counter()
            cb_rate = sdk_sequential(sim.base_url, n // 2, sink.url_for("/status"))
            sim.wait_for_callbacks(timeout=120)
            sink.wait_for_count(3 * (n // 2), timeout=120)
            total = time.perf_counter() - started
            print(f"  with status callbacks       : {cb_rate:8.0f} msg/s  (×{cb_rate / local:.2f} vs none); "
                  f"{len(sink.received)} callbacks delivered at {_rate(len(sink.received), total):.0f}/s")


if __name__ == "__main__":
    main()
