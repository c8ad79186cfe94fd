"""Benchmark: latency of the voice TwiML endpoints under load, against `broadcast serve` on loopback.

Run: .venv/bin/python bench/bench_twiml.py [--requests 2000] [--concurrency 4] [--database-url postgresql://...]
`broadcast serve` runs as a subprocess (web app + dispatchers as deployed; the dispatchers have nothing to
send) on a fresh SQLite file unless --database-url is given. A voice campaign with its rendered clip and
menu prompts is seeded first; then signed requests are posted over loopback, phase by phase, side by
side with /healthz as the baseline:
  - POST /voice/twiml  (answered call: the clip and the menu)        target p99 < 50 ms
  - POST /voice/gather (key 1: event written, clip again + menu)
Reported: p50/p90/p99/max per phase and each phase's ratio to the baseline.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import httpx  # noqa: E402
from sqlmodel import Session, select  # noqa: E402
from twilio.request_validator import RequestValidator  # noqa: E402

from bench.support import broadcast_serve, free_port  # noqa: E402
from broadcast.audio.service import campaign_audio, render_clip_now  # noqa: E402
from broadcast.campaigns.schemas import ContentIn  # noqa: E402
from broadcast.channels.voice.clips import render_prompts  # noqa: E402
from broadcast.config import load_settings  # noqa: E402
from broadcast.db import make_engine, upgrade  # noqa: E402
from broadcast.outbox.models import Delivery  # noqa: E402
from tests.support.seed import approved_campaign, seed_contacts, start  # noqa: E402

TOKEN = "bench-auth-token-0123456789"
ACCOUNT = "AC" + "1" * 32
TEXT = "Thông báo: Luật Đất đai năm 2024 có hiệu lực từ ngày 1 tháng 8 năm 2024. Bà con cần biết các quy định mới."


def seed(env: dict[str, str], residents: int) -> list[int]:
    """Residents, a sending voice campaign with its clip and the menu prompts rendered; delivery ids."""
    settings = load_settings(_env_file=None, database_url=env["DATABASE_URL"], media_dir=env["MEDIA_DIR"],
                             public_base_url=env["PUBLIC_BASE_URL"])
    upgrade(settings.database_url)
    engine = make_engine(settings.database_url)
    seed_contacts(engine, residents)
    campaign_id = approved_campaign(engine, TEXT, channels=["voice"],
                                    contents=[ContentIn(channel="voice", language="vi", body=TEXT)])
    with Session(engine) as session:
        clips = [clip.id for _, clip in campaign_audio(session, settings, campaign_id)]
        session.commit()
    for clip_id in clips:
        assert clip_id is not None
        render_clip_now(engine, settings, clip_id)
    render_prompts(engine, settings)
    start(engine, campaign_id)
    with Session(engine) as session:
        ids = [i for i in session.exec(select(Delivery.id).where(Delivery.campaign_id == campaign_id)).all()
               if i is not None]
    engine.dispose()
    return ids


async def fire(base: str, requests: list[tuple[str, dict[str, str], str]], concurrency: int) -> list[float]:
    """POST (path, form, signature) requests with `concurrency` workers; latencies in seconds."""
    latencies: list[float] = []
    queue = list(reversed(requests))
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    async with httpx.AsyncClient(base_url=base, limits=limits, timeout=30, trust_env=False) as client:
        async def worker() -> None:
            while queue:
                path, form, signature = queue.pop()
                t0 = time.perf_counter()
                if path == "/healthz":
                    response = await client.get(path)
                else:
                    response = await client.post(path, data=form, headers={"X-Twilio-Signature": signature})
                latencies.append(time.perf_counter() - t0)
                if response.status_code != 200 or (path != "/healthz" and "<Response" not in response.text):
                    raise RuntimeError(f"{path}: HTTP {response.status_code} {response.text[:200]}")
        await asyncio.gather(*(worker() for _ in range(concurrency)))
    return sorted(latencies)


def pct(values: list[float], p: float) -> float:
    return values[min(len(values) - 1, int(p * len(values)))] * 1000


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--requests", type=int, default=2000)
    parser.add_argument("--concurrency", type=int, default=4)
    parser.add_argument("--database-url", default="")
    args = parser.parse_args()
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    with tempfile.TemporaryDirectory() as tmp:
        env = {**os.environ, "DATABASE_URL": args.database_url or f"sqlite:///{tmp}/bench.db",
               "MEDIA_DIR": f"{tmp}/media", "PUBLIC_BASE_URL": base, "TWILIO_AUTH_TOKEN": TOKEN,
               "TWILIO_ACCOUNT_SID": ACCOUNT, "TWILIO_SIMULATOR_PORT": "0", "RUN_SCHEDULER_IN_SERVE": "false",
               "TTS_ENGINE": "espeak"}
        ids = seed(env, residents=min(args.requests, 2000))
        validator = RequestValidator(TOKEN)

        def signed(path: str, form: dict[str, str]) -> tuple[str, dict[str, str], str]:
            return path, form, str(validator.compute_signature(base + path, form))

        def call(i: int) -> dict[str, str]:
            return {"AccountSid": ACCOUNT, "CallSid": f"CA{i:032d}", "CallStatus": "in-progress",
                    "From": "+842903000977", "To": f"+8498{i:07d}", "Direction": "outbound-api",
                    "AnsweredBy": "human", "ApiVersion": "2010-04-01"}

        phases = {
            "GET  /healthz (baseline)": [("/healthz", {}, "")] * args.requests,
            "POST /voice/twiml": [signed(f"/voice/twiml?d={ids[i % len(ids)]}", call(i))
                                  for i in range(args.requests)],
            "POST /voice/gather (key 1)": [signed(f"/voice/gather?d={ids[i % len(ids)]}&n=1",
                                                  {**call(i), "Digits": "1"}) for i in range(args.requests)],
        }
        with broadcast_serve(env, port):
            asyncio.run(fire(base, phases["POST /voice/twiml"][:200], args.concurrency))  # warm-up
            results, rates = {}, {}
            for name, reqs in phases.items():
                t0 = time.perf_counter()
                results[name] = asyncio.run(fire(base, reqs, args.concurrency))
                rates[name] = len(reqs) / (time.perf_counter() - t0)
    backend = "PostgreSQL" if args.database_url else "SQLite"
    print(f"TwiML endpoints, {args.requests} requests per phase, concurrency {args.concurrency}, "
          f"`broadcast serve` on {backend}, loopback")
    baseline = pct(results["GET  /healthz (baseline)"], 0.99)
    print(f"{'phase':30} {'req/s':>7} {'p50 ms':>8} {'p90 ms':>8} {'p99 ms':>8} {'max ms':>8} {'p99/baseline':>13}")
    for name, lat in results.items():
        print(f"{name:30} {rates[name]:7.0f} {pct(lat, .5):8.2f} {pct(lat, .9):8.2f} {pct(lat, .99):8.2f} "
              f"{lat[-1] * 1000:8.2f} {pct(lat, .99) / baseline:13.2f}")
    twiml_p99 = pct(results["POST /voice/twiml"], 0.99)
    print(f"POST /voice/twiml p99 {twiml_p99:.2f} ms: {'OK' if twiml_p99 < 50 else 'OVER'} (target < 50 ms)")


if __name__ == "__main__":
    main()
