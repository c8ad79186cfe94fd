"""Why a large campaign's messages wait: the cost of the `waiting` figures beside the counts they join.

Seeds residents (default 500,000) on SQLite, fans a campaign out to all of them, has the dispatcher's screening
hold a tenth of them for the daily cap (as it records them), then times, side by side in one run, the campaign's
counts by status (`campaign_counts`, what the API and the pages already read) and the waiting report
(`campaign_waiting`: the queued rows grouped by reason, the gateway check, the finish estimate).
Prints the median of N runs of each and their ratio; exits 1 when the report costs more than 4× the counts
(it reads the campaign index twice; the pages keep its answer for 5 s).
Usage: .venv/bin/python bench/bench_waiting.py [--residents 500000] [--repeat 5]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from datetime import timedelta
from pathlib import Path

from sqlalchemy import update
from sqlmodel import Session, col

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from broadcast.campaigns import service as campaigns
from broadcast.config import load_settings
from broadcast.db import make_engine, upgrade, utcnow
from broadcast.engagement.counts import campaign_counts
from broadcast.flows.waiting import campaign_waiting
from broadcast.outbox.models import Delivery, WaitingReason
from tests.support.seed import approved_campaign, seed_contacts


def timed(action, repeat: int) -> float:  # type: ignore[no-untyped-def]
    times = []
    for _ in range(repeat):
        began = time.perf_counter()
        action()
        times.append(time.perf_counter() - began)
    return statistics.median(times)


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--residents", type=int, default=500_000)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        settings = load_settings(database_url=f"sqlite:///{folder}/bench.db", media_dir=Path(folder) / "media",
                                 _env_file=None)
        upgrade(settings.database_url, settings=settings)
        engine = make_engine(settings.database_url, settings=settings)
        seed_contacts(engine, args.residents)
        campaign_id = approved_campaign(engine)
        with Session(engine) as session:
            campaigns.start_run(session, campaign_id)
            session.commit()
        later = utcnow() + timedelta(hours=20)
        with engine.begin() as conn:  # what screening records for residents who reached the daily cap
            conn.execute(update(Delivery).where(col(Delivery.campaign_id) == campaign_id, col(Delivery.id) % 10 == 0)
                         .values(next_attempt_at=later, waiting_reason=WaitingReason.daily_cap))
        with Session(engine) as session:
            campaign = campaigns.get_campaign(session, campaign_id)
            counts = timed(lambda: campaign_counts(session, campaign_id), args.repeat)
            waiting = timed(lambda: campaign_waiting(session, settings, campaign, now=utcnow()), args.repeat)
            report = campaign_waiting(session, settings, campaign, now=utcnow())
        engine.dispose()
    print(f"{args.residents:,} queued deliveries: counts by status {counts * 1000:.0f} ms, "
          f"waiting report {waiting * 1000:.0f} ms ({waiting / counts:.2f}× the counts)")
    print("  " + ", ".join(f"{w.reason} {w.count:,}" for w in report.waiting))
    return 0 if waiting <= 4 * counts else 1


if __name__ == "__main__":
    raise SystemExit(main())
