"""Benchmark: `broadcast_deliveries` (/metrics) over millions of deliveries, vs a plain grouped count.

Run: .venv/bin/python bench/bench_ops_metrics.py [--residents 500000] [--runs 4] [--active 20000]
                                                  [--database-url postgresql://...]
Seeds PostgreSQL as bench_metrics.py does (`--residents` × `--runs` finished deliveries), refreshes the
rollup, then adds a run in progress of `--active` deliveries changed since. Measured side by side (median
of 7 after a warm-up): `SELECT channel, status, count(*) FROM delivery GROUP BY 1, 2` against the query
/metrics runs (broadcast/ops/gauges.py: the rollup for settled runs, rows for the rest), which must give
the same counts. Target: the /metrics query at least 5× faster than the plain count.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from sqlalchemy import text  # noqa: E402
from sqlmodel import Session  # noqa: E402

from bench.bench_metrics import SEED  # noqa: E402
from bench.support import postgres_database  # noqa: E402
from broadcast.config import load_settings  # noqa: E402
from broadcast.db import make_engine, upgrade  # noqa: E402
from broadcast.engagement.rollup import refresh_rollup  # noqa: E402
from broadcast.ops.gauges import delivery_counts  # noqa: E402

PLAIN = "SELECT channel, status, count(*) FROM delivery GROUP BY channel, status"
ACTIVE = ("INSERT INTO campaign_run (campaign_id, scheduled_for, status, targeted, note) SELECT id, now(), 'sending', "
          ":active, '' FROM campaign",
          "INSERT INTO delivery (campaign_id, run_id, contact_id, to_phone, channel, kind, status, attempts, "
          "created_at, updated_at) SELECT r.campaign_id, r.id, c.id, c.phone, 'sms', 'campaign', "
          "CASE WHEN c.id % 3 = 0 THEN 'sent' ELSE 'queued' END, 0, now(), now() "
          "FROM campaign_run r, contact c WHERE r.status = 'sending' "
          "AND c.id <= :active")


def median_ms(fn: object, repeat: int = 7) -> tuple[float, object]:
    result = fn()  # type: ignore[operator]
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        result = fn()  # type: ignore[operator]
        times.append(time.perf_counter() - t0)
    return statistics.median(times) * 1000, result


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--residents", type=int, default=500_000)
    parser.add_argument("--runs", type=int, default=4)
    parser.add_argument("--active", type=int, default=20_000)
    parser.add_argument("--database-url", default="")
    args = parser.parse_args()
    with postgres_database(args.database_url, "bench_ops") as url:
        upgrade(url)
        settings = load_settings(database_url=url, _env_file=None)
        engine = make_engine(url, settings=settings)
        params = {"communes": 100, "residents": args.residents, "runs": args.runs, "events": 0,
                  "active": args.active}
        for label, sql in SEED:
            if label in ("communes", "residents", "campaign", "runs", "deliveries"):
                with engine.begin() as conn:
                    conn.execute(text(sql), params)
        with engine.begin() as conn:  # settled long ago, then summed up by the rollup
            conn.execute(text("UPDATE delivery SET updated_at = now() - interval '1 day'"))
        with Session(engine) as session:
            refresh_rollup(session, settings)
            session.commit()
        with engine.begin() as conn:
            for sql in ACTIVE:
                conn.execute(text(sql), params)
        raw = engine.raw_connection()
        raw.driver_connection.autocommit = True  # type: ignore[union-attr]
        raw.cursor().execute("VACUUM ANALYZE")
        raw.close()
        with engine.connect() as conn:
            total = conn.execute(text("SELECT count(*) FROM delivery")).scalar_one()
            plain_ms, plain = median_ms(lambda: {(c, s): n for c, s, n in conn.execute(text(PLAIN))})
            gauge_ms, gauge = median_ms(lambda: delivery_counts(conn))
        assert plain == gauge, (plain, gauge)
        ratio = plain_ms / gauge_ms
        print(f"{total:,} deliveries ({args.active:,} in a run in progress): plain grouped count {plain_ms:.0f} ms, "
              f"/metrics query {gauge_ms:.1f} ms ({ratio:.0f}× faster), same counts")
        engine.dispose()
        if ratio < 5:
            sys.exit("target missed: the /metrics query should be at least 5× faster than a plain count")


if __name__ == "__main__":
    main()
