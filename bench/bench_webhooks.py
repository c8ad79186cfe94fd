"""Benchmark: signed Twilio webhooks (status callbacks and incoming SMS) against `broadcast serve`.

Run: .venv/bin/python bench/bench_webhooks.py [--status 40000] [--inbound 20000] [--concurrency 48]
                                               [--database-url postgresql://...]
`broadcast serve` runs as a subprocess (web + dispatcher, as deployed) on PostgreSQL (a private cluster
from tests/pg.py unless --database-url is given); the Twilio simulator that receives the auto-replies the
dispatcher sends runs as a process of its own, as Twilio would. Requests are signed and serialised
beforehand, then posted over keep-alive loopback connections at full speed by a raw-socket load generator
(an HTTP client library would spend more CPU than the server on these 2 shared cores and measure itself):
first the status callbacks alone, then incoming messages alone (a fifth of them ask for help and get an
auto-reply), then both mixed. Reported: requests/s for each phase (target ≥ 500, sustained: each phase
lasts several seconds), latency percentiles, the server's CPU per request, and rows counted afterwards
(nothing may be dropped: every callback applied, every incoming message stored exactly once, every
question in the inbox).
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import multiprocessing
import os
import subprocess
import sys
import time
import uuid
import warnings
from pathlib import Path
from urllib.parse import urlencode

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

warnings.filterwarnings("ignore", message=".*starlette.testclient.*")  # imported by the test helpers

import uvloop  # noqa: E402
from sqlalchemy import text  # noqa: E402
from twilio.request_validator import RequestValidator  # noqa: E402

from bench.support import broadcast_serve, free_port, postgres_database  # noqa: E402
from broadcast.db import make_engine, upgrade  # noqa: E402
from tests.engagement.conftest import inbound_params  # noqa: E402

TARGET = 500  # webhook requests/s the issue asks for, sustained
TOKEN = "bench-auth-token"
ACCOUNT = "AC" + "1" * 32
Request = tuple[str, dict[str, str], str]  # path, form, signature


def seed(url: str, residents: int) -> None:
    """Residents, one sending campaign and one 'sent' delivery per resident (with a provider SID)."""
    engine = make_engine(url)
    with engine.begin() as conn:
        conn.execute(text("INSERT INTO commune (code, province_code, name, division_type, codename, "
                          "legal_aid_contact, airing_slots, feed_token, created_at) VALUES "
                          "('32248','96','Xã Đất Mũi','xa','','0290 3831 234','[\"05:30\"]','',now())"))
        conn.execute(text(
            "INSERT INTO contact (phone, full_name, commune_code, address, language, note, sms_opted_out, "
            "voice_opted_out, consent_source, created_at, updated_at) SELECT '+8498' || lpad(i::text, 7, '0'), "
            "'', '32248', '', 'vi', '', false, false, 'import', now(), now() FROM generate_series(0, :n - 1) i"),
            {"n": residents})
        conn.execute(text(
            "INSERT INTO campaign (title, description, status, channels, audience, schedule, bulletin_level, "
            "strip_diacritics, ask_rating, sms_fallback_for_voice, link_enabled, review_comment, created_at, "
            "updated_at) VALUES ('Bench', '', 'completed', '[\"sms\"]', '{}', '{}', 'normal', false, true, "
            "false, false, '', now(), now())"))
        conn.execute(text("INSERT INTO campaign_run (campaign_id, scheduled_for, status, targeted, note) "
                          "SELECT id, now(), 'completed', :n, '' FROM campaign"), {"n": residents})
        conn.execute(text(
            "INSERT INTO delivery (campaign_id, run_id, contact_id, to_phone, channel, kind, status, provider, "
            "provider_sid, attempts, segments, created_at, sent_at, updated_at) "
            "SELECT r.campaign_id, r.id, c.id, c.phone, 'sms', 'campaign', 'sent', 'twilio', "
            "'SM' || lpad(c.id::text, 32, '0'), 1, 1, now(), now(), now() FROM contact c, campaign_run r"))
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        # Statistics as autovacuum would have them by then: without them the planner scans every delivery
        # for a resident's last campaign (5 ms instead of 0.04 ms per incoming message).
        conn.execute(text("ANALYZE"))
    engine.dispose()


def build(base: str, n_status: int, n_inbound: int) -> tuple[list[Request], list[Request]]:
    validator = RequestValidator(TOKEN)

    def signed(path: str, form: dict[str, str]) -> Request:
        return path, form, str(validator.compute_signature(base + path, form))

    status = [signed("/webhooks/twilio/status", {
        "AccountSid": ACCOUNT, "From": "CAMAU-PBGDP", "To": f"+8498{i:07d}", "ApiVersion": "2010-04-01",
        "MessageSid": f"SM{i + 1:032d}", "SmsSid": f"SM{i + 1:032d}", "MessageStatus": "delivered",
        "SmsStatus": "delivered", "RawDlrDoneDate": "2612011200"}) for i in range(n_status)]
    bodies = ["Cho hỏi thủ tục cấp sổ đỏ?", "5", "TROGIUP", "Lương tối thiểu vùng 2026?", "4"]
    inbound = [signed("/webhooks/twilio/sms", inbound_params(f"+8498{i % 50000:07d}", bodies[i % len(bodies)],
                                                             sid="SM" + uuid.uuid4().hex)) for i in range(n_inbound)]
    return status, inbound


def encode(host: str, request: Request) -> bytes:
    """One keep-alive HTTP/1.1 POST, serialised beforehand so the load generator costs next to nothing."""
    path, form, sig = request
    body = urlencode(form).encode()
    head = (f"POST {path} HTTP/1.1\r\nHost: {host}\r\nContent-Type: application/x-www-form-urlencoded\r\n"
            f"X-Twilio-Signature: {sig}\r\nContent-Length: {len(body)}\r\n\r\n")
    return head.encode() + body


def _client(args: tuple[str, list[bytes], int]) -> tuple[int, int, list[float]]:
    """Post pre-serialised requests over `concurrency` keep-alive connections; (ok, failed, latencies)."""
    base, requests, concurrency = args
    host, port = base.removeprefix("http://").split(":")

    async def run() -> tuple[int, int, list[float]]:
        ok = bad = 0
        latencies: list[float] = []
        queue = list(reversed(requests))

        async def worker() -> None:
            nonlocal ok, bad
            reader, writer = await asyncio.open_connection(host, int(port))
            while queue:
                payload = queue.pop()
                t0 = time.perf_counter()
                writer.write(payload)
                head = await reader.readuntil(b"\r\n\r\n")
                length = next((int(line.split(b":")[1]) for line in head.split(b"\r\n")
                               if line.lower().startswith(b"content-length:")), 0)
                await reader.readexactly(length)
                latencies.append(time.perf_counter() - t0)
                if head.startswith(b"HTTP/1.1 200 "):
                    ok += 1
                else:
                    bad += 1
            writer.close()

        await asyncio.gather(*(worker() for _ in range(min(concurrency, len(requests)))))
        return ok, bad, latencies

    return uvloop.run(run())


def fire(base: str, requests: list[bytes], concurrency: int, processes: int) -> tuple[float, int, int, list[float]]:
    """Post all requests from client processes; returns (seconds, ok, failed, latencies)."""
    shares = [requests[i::processes] for i in range(processes)]
    with multiprocessing.get_context("spawn").Pool(processes) as pool:
        pool.map(_client, [(base, [], 1)] * processes)  # warm the interpreters first
        t0 = time.perf_counter()
        results = pool.map(_client, [(base, share, max(1, concurrency // processes)) for share in shares])
        elapsed = time.perf_counter() - t0
    latencies = sorted(x for r in results for x in r[2])
    return elapsed, sum(r[0] for r in results), sum(r[1] for r in results), latencies


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process (Linux /proc), to report server cost per request."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def pct(values: list[float], p: float) -> float:
    return values[min(len(values) - 1, int(p * len(values)))] * 1000 if values else 0.0


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--status", type=int, default=40000)
    parser.add_argument("--inbound", type=int, default=20000)
    parser.add_argument("--concurrency", type=int, default=48)
    parser.add_argument("--clients", type=int, default=1)
    parser.add_argument("--database-url", default="")
    args = parser.parse_args()
    with postgres_database(args.database_url, "bench_webhooks") as url:
        failed = run(args, url)
    sys.exit(1 if failed else 0)


def run(args: argparse.Namespace, url: str) -> bool:
    """All phases against one server; True when a target was missed or rows are missing."""
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    upgrade(url)
    seed(url, max(args.status * 2, 50000))
    simulator_port = free_port()
    env = {**os.environ, "DATABASE_URL": url, "PUBLIC_BASE_URL": base, "TWILIO_AUTH_TOKEN": TOKEN,
           "TWILIO_ACCOUNT_SID": ACCOUNT, "RUN_SCHEDULER_IN_SERVE": "false",
           # Twilio is not inside our process when deployed: the simulator answering the auto-replies the
           # dispatcher sends runs as its own process, so the server's CPU figure is the server's alone.
           "TWILIO_SIMULATOR": "false", "TWILIO_API_BASE_URL": f"http://127.0.0.1:{simulator_port}"}
    twilio = subprocess.Popen([sys.executable, "-m", "broadcast.cli", "simulator", "--port", str(simulator_port)],
                              env=env, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        with broadcast_serve(env, port) as proc:
            return measure(args, url, base, proc)
    finally:
        twilio.terminate()


def measure(args: argparse.Namespace, url: str, base: str, proc: subprocess.Popen[bytes]) -> bool:
    half_s, half_i = args.status // 2, args.inbound // 2
    status, inbound = build(base, args.status, args.inbound)
    host = base.removeprefix("http://")
    mixed = [r for pair in itertools.zip_longest(status[half_s:], inbound[half_i:]) for r in pair if r]
    # The floor, in the same run: the cheapest request that touches the database (GET /healthz, SELECT 1).
    healthz = f"GET /healthz HTTP/1.1\r\nHost: {host}\r\n\r\n".encode()
    phases = [("GET /healthz", [healthz] * half_s),
              ("status callbacks", [encode(host, r) for r in status[:half_s]]),
              ("incoming SMS", [encode(host, r) for r in inbound[:half_i]]),
              (f"mixed {len(status) - half_s}+{len(inbound) - half_i}", [encode(host, r) for r in mixed])]
    print(f"broadcast serve on PostgreSQL; {args.clients} client processes, {args.concurrency} connections")
    print(f"machine: {os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.1f} before the run")
    print(f"{'phase':<18}{'requests':>9}{'seconds':>9}{'req/s':>9}{'vs healthz':>11}{'p50 ms':>9}{'p99 ms':>9}"
          f"{'non-200':>9}{'server CPU ms/req':>19}")
    floor = 0.0
    slow = []
    for label, requests in phases:
        cpu0 = cpu_seconds(proc.pid)
        seconds, _ok, bad, lat = fire(base, requests, args.concurrency, args.clients)
        cpu = (cpu_seconds(proc.pid) - cpu0) / len(requests) * 1000
        rate = len(requests) / seconds
        floor = floor or rate
        print(f"{label:<18}{len(requests):>9}{seconds:>9.2f}{rate:>9.0f}{rate / floor:>10.2f}x"
              f"{pct(lat, 0.5):>9.1f}{pct(lat, 0.99):>9.1f}{bad:>9}{cpu:>19.2f}")
        if label != "GET /healthz" and (rate < TARGET or bad):
            slow.append(label)
    engine = make_engine(url)
    with engine.connect() as conn:
        delivered = conn.execute(text("SELECT count(*) FROM delivery WHERE status = 'delivered' "
                                      "AND kind = 'campaign'")).scalar()
        stored = conn.execute(text("SELECT count(*) FROM inbound_message")).scalar()
        questions = conn.execute(text("SELECT count(*) FROM inbound_message WHERE conversation_id IS NOT NULL"
                                      )).scalar()
        expected_q = sum(1 for _, form, _ in inbound if form["Body"].startswith(("Cho", "Lương")))
    engine.dispose()
    print(f"rows after: delivered {delivered}/{len(status)}, incoming stored {stored}/{len(inbound)}, "
          f"questions in the inbox {questions}/{expected_q}")
    complete = (delivered, stored, questions) == (len(status), len(inbound), expected_q)
    print("NOTHING DROPPED" if complete else "ROWS MISSING")
    if slow:
        print(f"under {TARGET} requests/s or with errors: {', '.join(slow)}")
    return bool(slow) or not complete


if __name__ == "__main__":
    main()
