"""Benchmark: campaign funnel and per-commune table over 10,000,000 deliveries and 1,000,000 events.

Run: .venv/bin/python bench/bench_metrics.py [--residents 1000000] [--runs 10] [--events 1000000]
                                              [--communes 100] [--database-url postgresql://...]
Seeds PostgreSQL (a private cluster from tests/pg.py unless --database-url is given) with set-based SQL:
`--residents` residents over `--communes` communes, one recurring campaign with `--runs` runs (one
delivery per resident per run: 10 M rows by default, mixed outcomes and error codes over several days),
`--events` engagement events (unique clicks, downloads, opt-outs) and some replies and airings.
Measured side by side in one run (median of 7 after a warm-up): the same figures aggregated straight
from the raw delivery rows vs from the rollup table (broadcast/engagement/rollup.py), plus the cost of
a full rollup rebuild and of an incremental refresh after a late batch of status callbacks.
Target: funnel and per-commune table under 200 ms each.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from sqlalchemy import text  # noqa: E402
from sqlalchemy.engine import Engine  # noqa: E402
from sqlmodel import Session  # noqa: E402

from bench.support import postgres_database  # noqa: E402
from broadcast.config import load_settings  # noqa: E402
from broadcast.db import make_engine, upgrade  # noqa: E402
from broadcast.engagement import metrics  # noqa: E402
from broadcast.engagement.rollup import refresh_rollup  # noqa: E402

SEED = [
    ("communes", "INSERT INTO commune (code, province_code, name, division_type, codename, legal_aid_contact, "
     "airing_slots, feed_token, created_at) SELECT lpad(i::text, 5, '0'), '96', 'Xã ' || i, 'xa', '', '', "
     "'[\"05:30\",\"17:00\"]', '', now() FROM generate_series(1, :communes) i"),
    ("residents", "INSERT INTO contact (phone, full_name, commune_code, address, language, note, sms_opted_out, "
     "voice_opted_out, consent_source, created_at, updated_at) SELECT '+849' || lpad(i::text, 8, '0'), '', "
     "lpad((i % :communes + 1)::text, 5, '0'), '', 'vi', '', false, false, 'import', now(), now() "
     "FROM generate_series(1, :residents) i"),
    ("campaign", "INSERT INTO campaign (title, description, status, channels, audience, schedule, bulletin_level, "
     "strip_diacritics, ask_rating, sms_fallback_for_voice, link_enabled, review_comment, created_at, updated_at) "
     "VALUES ('Luật Đất đai 2024 (hằng tuần)', '', 'sending', '[\"sms\"]', '{}', '{}', 'normal', false, true, "
     "false, true, '', now(), now())"),
    ("runs", "INSERT INTO campaign_run (campaign_id, scheduled_for, status, targeted, note) SELECT c.id, "
     "now() - (r || ' days')::interval, 'completed', :residents, '' FROM campaign c, generate_series(1, :runs) r"),
    ("deliveries", "INSERT INTO delivery (campaign_id, run_id, contact_id, to_phone, channel, kind, status, "
     "provider, error_code, error_message, attempts, segments, created_at, sent_at, delivered_at, updated_at) "
     "SELECT campaign_id, run_id, contact_id, phone, 'sms', 'campaign', status, 'twilio', "
     "CASE k WHEN 15 THEN 30003 WHEN 16 THEN 30005 WHEN 17 THEN 21211 END, "
     "CASE WHEN k IN (15, 16) THEN 'provider reported undelivered' WHEN k = 17 THEN 'invalid To' "
     "WHEN k = 18 THEN 'opted out' END, 1, CASE WHEN k < 17 THEN 1 + contact_id % 2 END, at, "
     "CASE WHEN k < 17 THEN at END, CASE WHEN k < 14 THEN at END, at FROM (SELECT r.campaign_id, r.id AS run_id, "
     "c.id AS contact_id, c.phone, r.scheduled_for AS at, (c.id * 7 + r.id) % 20 AS k, "
     "CASE WHEN (c.id * 7 + r.id) % 20 < 14 THEN 'delivered' WHEN (c.id * 7 + r.id) % 20 = 14 THEN 'sent' "
     "WHEN (c.id * 7 + r.id) % 20 IN (15, 16) THEN 'undelivered' WHEN (c.id * 7 + r.id) % 20 = 17 THEN 'failed' "
     "WHEN (c.id * 7 + r.id) % 20 = 18 THEN 'skipped' ELSE 'queued' END AS status "
     "FROM campaign_run r CROSS JOIN contact c) s"),
    ("events", "INSERT INTO engagement_event (kind, campaign_id, contact_id, commune_code, occurred_at, "
     "dedupe_key, data) SELECT CASE WHEN i % 10 < 8 THEN 'click' WHEN i % 10 = 8 THEN 'download' ELSE 'opt_out' "
     "END, (SELECT id FROM campaign), i, lpad((i % :communes + 1)::text, 5, '0'), now() - (i % 7 || ' days')::"
     "interval, 'bench:' || i, '{}' FROM generate_series(1, :events) i"),
    ("replies", "INSERT INTO inbound_message (provider, provider_sid, from_phone, to_phone, body, received_at, "
     "contact_id, campaign_id, classification, rating) SELECT 'twilio', 'SMb' || i, NULL, NULL, '', now(), i, "
     "(SELECT id FROM campaign), CASE WHEN i % 3 = 0 THEN 'question' ELSE 'rating' END, "
     "CASE WHEN i % 3 = 0 THEN NULL ELSE 1 + i % 5 END FROM generate_series(1, :residents / 100) i"),
    ("airings", "INSERT INTO audio_clip (content_hash, campaign_id, title, language, source, engine, voice, "
     "normalized_text, file_path, status, download_token, created_at) SELECT md5('bench'), id, '', 'vi', 'tts', "
     "'', '', '', '', 'ready', '', now() FROM campaign"),
    ("airings", "INSERT INTO airing (clip_id, campaign_id, commune_code, planned_at, level, confirmation_code, "
     "confirmed_at) SELECT a.id, a.campaign_id, m.code, now(), 'normal', '', CASE WHEN m.code < '00050' "
     "THEN now() END FROM audio_clip a, commune m"),
]


def timed(fn: Callable[[], Any], repeat: int = 7) -> tuple[float, Any]:
    fn()  # warm-up (plans, caches)
    times, result = [], None
    for _ in range(repeat):
        t0 = time.perf_counter()
        result = fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times) * 1000, result


def raw_funnel(engine: Engine, campaign_id: int) -> list[Any]:
    with engine.connect() as conn:
        return list(conn.execute(text(
            "SELECT status, error_code, count(*), sum(segments) FROM delivery WHERE campaign_id = :c "
            "GROUP BY status, error_code"), {"c": campaign_id}))


def raw_communes(engine: Engine, campaign_id: int) -> list[Any]:
    with engine.connect() as conn:
        return list(conn.execute(text(
            "SELECT c.commune_code, d.status, count(*), sum(d.segments) FROM delivery d JOIN contact c "
            "ON c.id = d.contact_id WHERE d.campaign_id = :c GROUP BY c.commune_code, d.status"), {"c": campaign_id}))


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--residents", type=int, default=1_000_000)
    parser.add_argument("--runs", type=int, default=10)
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--communes", type=int, default=100)
    parser.add_argument("--database-url", default="")
    args = parser.parse_args()
    with postgres_database(args.database_url, "bench_metrics") as url:
        upgrade(url)
        settings = load_settings(database_url=url, _env_file=None)
        engine = make_engine(url)
        params = {"communes": args.communes, "residents": args.residents, "runs": args.runs, "events": args.events}
        with engine.begin() as conn:  # bulk-load without secondary indexes, then build them once
            indexes = list(conn.execute(text("SELECT indexname, indexdef FROM pg_indexes WHERE tablename = "
                                             "'delivery' AND indexname NOT IN (SELECT conname FROM pg_constraint)")))
            for index_name, _ in indexes:
                conn.execute(text(f'DROP INDEX "{index_name}"'))
        for label, sql in SEED:
            t0 = time.perf_counter()
            with engine.begin() as conn:
                conn.execute(text(sql), params)
            print(f"seed {label:<11} {time.perf_counter() - t0:7.1f} s", flush=True)
        t0 = time.perf_counter()
        with engine.begin() as conn:
            for _, definition in indexes:
                conn.execute(text(definition))
        print(f"seed indexes    {time.perf_counter() - t0:7.1f} s", flush=True)
        raw = engine.raw_connection()
        raw.driver_connection.autocommit = True  # type: ignore[union-attr]
        raw.cursor().execute("VACUUM ANALYZE")
        raw.close()
        with engine.connect() as conn:
            campaign_id = int(conn.execute(text("SELECT id FROM campaign")).scalar_one())
            n_deliveries = conn.execute(text("SELECT count(*) FROM delivery")).scalar_one()
            n_events = conn.execute(text("SELECT count(*) FROM engagement_event")).scalar_one()
        print(f"{n_deliveries:,} deliveries, {n_events:,} engagement events, {args.communes} communes")

        with Session(engine) as session:
            t0 = time.perf_counter()
            refresh_rollup(session, settings, full=True)
            session.commit()
            rebuild = time.perf_counter() - t0
            rollup_rows = session.execute(text("SELECT count(*) FROM delivery_rollup")).scalar_one()
        with engine.begin() as conn:  # a late batch of callbacks touching one run
            conn.execute(text("UPDATE delivery SET status = 'delivered', delivered_at = now(), updated_at = now() "
                              "WHERE id IN (SELECT id FROM delivery WHERE status = 'sent' LIMIT 10000)"))
        with Session(engine) as session:
            t0 = time.perf_counter()
            runs = refresh_rollup(session, settings)
            session.commit()
            incremental = time.perf_counter() - t0

        with Session(engine) as session:
            t_funnel, funnel = timed(lambda: metrics.campaign_funnel(session, settings, campaign_id))
            t_communes, table = timed(lambda: metrics.commune_table(session, settings, campaign_id))
        t_raw_funnel, raw_rows = timed(lambda: raw_funnel(engine, campaign_id), repeat=3)
        t_raw_communes, _ = timed(lambda: raw_communes(engine, campaign_id), repeat=3)
        assert funnel["targeted"] == sum(r[2] for r in raw_rows) == n_deliveries
        assert funnel["delivered"] == sum(r[2] for r in raw_rows if r[0] == "delivered")
        assert len(table) == args.communes and sum(r["targeted"] for r in table) == n_deliveries

        print(f"rollup: {rollup_rows:,} rows; full rebuild {rebuild:.1f} s; incremental refresh after 10,000 "
              f"late callbacks ({runs} run recomputed) {incremental:.1f} s")
        print(f"{'query':<28}{'raw rows ms':>13}{'rollup ms':>11}{'speed-up':>10}   target < 200 ms")
        for label, t_raw, t_fast in (("campaign funnel", t_raw_funnel, t_funnel),
                                     ("per-commune table", t_raw_communes, t_communes)):
            verdict = "OK" if t_fast < 200 else "MISSED"
            print(f"{label:<28}{t_raw:>13.0f}{t_fast:>11.1f}{t_raw / t_fast:>9.0f}x   {verdict}")
        print(f"funnel: targeted {funnel['targeted']:,}, sent {funnel['sent']:,}, delivered {funnel['delivered']:,}, "
              f"failed {funnel['failed']:,}, unique clicks {funnel['unique_clicks']:,}, "
              f"cost {funnel['estimated_cost']:,.2f} {settings.sms_price_unit}")
        engine.dispose()


if __name__ == "__main__":
    main()
