"""Benchmark: fan-out of a 1,000,000-resident audience into Delivery rows, and the dispatcher's memory on it.

Run: .venv/bin/python bench/bench_fanout.py [--residents 1000000] [--memory-seconds 20]
                                             [--backends sqlite,postgresql]
For each backend (PostgreSQL only when tests/pg.py finds one), in one run on one database:
  1. seeds the residents set-based (1 % opted out of SMS, so the audience filter has work to do);
  2. times a bare SQL `INSERT INTO delivery … SELECT … FROM contact WHERE …` of the same rows (with its
     commit) twice, clearing the rows untimed after each (the first run also grows the file), then
     `fan_out` through its commit (called by `campaigns.start_run`, timed whole too); checks both wrote
     the same rows and prints the ratio to the like-for-like second bare run (target < 3×);
  3. runs the dispatcher over that campaign in a child process for --memory-seconds against the Twilio
     simulator (child process, callbacks dropped, budget 1,000,000 msg/s) and prints the child's peak
     RSS (VmHWM, else ru_maxrss; target < 300 MB) and how many messages and claim batches it got through.
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from sqlalchemy import Integer, String, cast, func, insert, literal, select, text  # noqa: E402
from sqlalchemy.engine import Engine  # noqa: E402
from sqlmodel import Session, col  # noqa: E402

from broadcast.campaigns import service as campaigns  # noqa: E402
from broadcast.campaigns.models import CampaignRun  # noqa: E402
from broadcast.contacts.models import Contact  # noqa: E402
from broadcast.db import UTCDateTime, make_engine, upgrade, utcnow  # noqa: E402
from broadcast.outbox.models import Delivery  # noqa: E402
from tests.support.seed import approved_campaign, seed_communes  # noqa: E402

TEXT = "Thông báo: Luật Đất đai 2024 có hiệu lực."
BARE_SQL = """
INSERT INTO delivery (campaign_id, run_id, contact_id, to_phone, channel, kind, status, attempts,
                      next_attempt_at, created_at, updated_at)
SELECT :campaign_id, :run_id, id, phone, 'sms', 'campaign', 'queued', 0, :now, :now, :now
FROM contact
WHERE phone IS NOT NULL AND erased_at IS NULL AND sms_opted_out = :no
"""


def seed_residents(engine: Engine, count: int) -> None:
    """`count` residents in one INSERT … SELECT over a generated series (phones +8498xxxxxxx)."""
    seed_communes(engine)
    now = utcnow()
    if engine.dialect.name == "postgresql":
        series = func.generate_series(0, count - 1).table_valued("i").render_derived()
        i = series.c.i
        number = func.lpad(cast(i, String), 7, "0")
        source = select(i, number).select_from(series)
    else:
        seq = select(literal(0).label("i")).cte("seq", recursive=True)
        seq = seq.union_all(select(seq.c.i + 1).where(seq.c.i < count - 1))
        i = seq.c.i
        source = select(i, func.printf("%07d", i)).select_from(seq)
    numbered = source.subquery()
    n, digits = numbered.c[0], numbered.c[1]
    rows = select(
        literal("+8498") + digits, literal("Người dân ") + cast(n, String), literal("32248"), literal("vi"),
        cast(n % 100, Integer) == 0, literal(False), literal(""), literal(""), literal("import"),
        literal(now, UTCDateTime()), literal(now, UTCDateTime()),
    )
    columns = ["phone", "full_name", "commune_code", "language", "sms_opted_out", "voice_opted_out", "address",
               "note", "consent_source", "created_at", "updated_at"]
    with engine.begin() as conn:
        conn.execute(insert(Contact).from_select(columns, rows))
    if engine.dialect.name == "postgresql":
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.execute(text("VACUUM ANALYZE contact"))
    settle(engine)


def clear_deliveries(engine: Engine) -> None:
    with engine.begin() as conn:
        if engine.dialect.name == "postgresql":
            conn.execute(text("TRUNCATE delivery CASCADE"))
        else:
            conn.execute(text("DELETE FROM delivery"))
    settle(engine)


def settle(engine: Engine) -> None:
    """Start each timed statement alike: SQLite's WAL folded back (outside a transaction), PG vacuumed."""
    if engine.dialect.name == "sqlite":
        raw = engine.raw_connection()
        raw.cursor().execute("PRAGMA wal_checkpoint(TRUNCATE)")
        raw.close()
    else:
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.execute(text("VACUUM ANALYZE delivery"))


def new_run(engine: Engine, campaign_id: int, offset_seconds: int) -> int:
    with Session(engine) as session:
        run = CampaignRun(campaign_id=campaign_id, scheduled_for=utcnow() + timedelta(seconds=offset_seconds))
        session.add(run)
        session.commit()
        assert run.id is not None
        return run.id


def bare_insert(engine: Engine, campaign_id: int, run_id: int) -> tuple[float, int]:
    """The baseline: one hand-written INSERT … SELECT and its commit."""
    started = time.perf_counter()
    with engine.begin() as conn:
        params: dict[str, Any] = {"campaign_id": campaign_id, "run_id": run_id, "no": False,
                                  "now": UTCDateTime().process_bind_param(utcnow(), engine.dialect)}
        inserted = conn.execute(text(BARE_SQL), params).rowcount
    return time.perf_counter() - started, inserted


def rows_signature(engine: Engine, run_id: int) -> tuple[int, int, int]:
    with engine.connect() as conn:
        count, ids, phones = conn.execute(
            select(func.count(), func.sum(col(Delivery.contact_id)), func.count(func.distinct(Delivery.to_phone)))
            .where(col(Delivery.run_id) == run_id)
        ).one()
    return int(count), int(ids or 0), int(phones)


def timed_fan_out(engine: Engine, campaign_id: int, run_id: int) -> tuple[float, float, int]:
    """campaigns.start_run on a prepared run; returns (fan_out call through its commit, whole start_run, rows)."""
    began: list[float] = []
    original: Callable[..., int] = campaigns.fan_out

    def timed(*args: Any, **kwargs: Any) -> int:
        began.append(time.perf_counter())
        return original(*args, **kwargs)

    campaigns.fan_out = timed
    try:
        started = time.perf_counter()
        with Session(engine, expire_on_commit=False) as session:
            run = session.get(CampaignRun, run_id)
            campaigns.start_run(session, campaign_id, run=run)
            session.commit()
        finished = time.perf_counter()
    finally:
        campaigns.fan_out = original
    return finished - began[0], finished - started, rows_signature(engine, run_id)[0]


def proc_status_kb(field: str) -> int:
    status = Path("/proc/self/status")
    if not status.exists():
        return 0
    return next((int(line.split()[1]) for line in status.read_text().splitlines() if line.startswith(field + ":")), 0)


def peak_rss_kb() -> int:
    """This process's peak RSS: VmHWM (Linux), else ru_maxrss (which after fork+exec can start at the
    parent's size, so it would overstate a child started from a big parent)."""
    return proc_status_kb("VmHWM") or resource.getrusage(resource.RUSAGE_SELF).ru_maxrss


def memory_child(database_url: str, seconds: float) -> None:
    """(child process) Run the dispatcher for `seconds` against a simulator; print JSON with peak RSS."""
    from broadcast.channels.core.dispatcher import Dispatcher
    from broadcast.channels.twilio.sms import TwilioSmsChannel
    from broadcast.config import load_settings
    from broadcast.simulators.twilio.process import SimulatorProcess
    from broadcast.simulators.twilio.testing import SIM_ACCOUNT_SID, SIM_AUTH_TOKEN

    with SimulatorProcess() as sim:
        sim.set_callback_mode("dropped")
        settings = load_settings(
            database_url=database_url, twilio_api_base_url=sim.base_url, twilio_account_sid=SIM_ACCOUNT_SID,
            twilio_auth_token=SIM_AUTH_TOKEN, sms_rate_per_second=1_000_000, quiet_hours_start="00:00",
            quiet_hours_end="00:00")
        engine = make_engine(database_url)
        dispatcher = Dispatcher(engine, settings, TwilioSmsChannel(settings))
        batches: list[int] = []
        claim = dispatcher.claim_batch

        def counted(limit: int) -> Any:
            found = claim(limit)
            batches.append(len(found[0]) + len(found[1]))
            return found

        dispatcher.claim_batch = counted  # type: ignore[method-assign]
        before = peak_rss_kb()
        stop = dispatcher.start()
        threading.Event().wait(seconds)
        stop()
        peak, current = peak_rss_kb(), proc_status_kb("VmRSS")
        with engine.connect() as conn:
            sent = conn.execute(select(func.count()).where(col(Delivery.status) == "sent")).scalar_one()
        print(json.dumps({"rss_before_kb": before, "peak_rss_kb": peak, "rss_end_kb": current, "sent": sent,
                          "batches": sum(1 for b in batches if b), "claimed": sum(batches),
                          "simulator_accepted": len(sim.messages())}))


def memory(database_url: str, seconds: float) -> dict[str, Any]:
    done = subprocess.run([sys.executable, __file__, "--memory-child", database_url, "--memory-seconds",
                           str(seconds)], capture_output=True, text=True, check=False, timeout=seconds + 300)
    if done.returncode:
        raise RuntimeError(done.stderr[-3000:])
    return dict(json.loads(done.stdout.strip().splitlines()[-1]))


def bench_backend(label: str, url: str, residents: int, seconds: float) -> bool:
    engine = make_engine(url)
    started = time.perf_counter()
    seed_residents(engine, residents)
    campaign_id = approved_campaign(engine, TEXT)
    print(f"[{label}] {residents:,} residents seeded in {time.perf_counter() - started:.1f} s")
    runs = [new_run(engine, campaign_id, offset) for offset in (-3, -2, -1)]
    with engine.connect() as conn:  # warm the cache for whichever goes first
        conn.execute(select(func.count()).select_from(Contact).where(col(Contact.sms_opted_out).is_(False)))
    # The first insert also grows the database file; the second reuses the freed pages, as fan_out does.
    bare1, bare_rows = bare_insert(engine, campaign_id, runs[0])
    clear_deliveries(engine)
    bare2, _ = bare_insert(engine, campaign_id, runs[2])
    bare_sig = rows_signature(engine, runs[2])
    clear_deliveries(engine)
    fan, start_total, fan_rows = timed_fan_out(engine, campaign_id, runs[1])
    fan_sig = rows_signature(engine, runs[1])
    with engine.begin() as conn:
        conn.execute(text("UPDATE campaign_run SET status = 'completed' WHERE id IN (:a, :b)"),
                     {"a": runs[0], "b": runs[2]})
    engine.dispose()
    same = bare_sig == fan_sig
    print(f"  bare INSERT … SELECT + commit : {bare1:6.2f} s into a new file, {bare2:6.2f} s into freed pages "
          f"({bare_rows:,} rows)")
    print(f"  fan_out + commit              : {fan:6.2f} s ({fan_rows:,} rows; same rows as bare SQL: {same}) "
          f"= ×{fan / bare2:.2f} the like-for-like bare run (×{fan / bare1:.2f} the first)")
    print(f"  campaigns.start_run (total)   : {start_total:6.2f} s = ×{start_total / bare2:.2f}")
    found = memory(url, seconds)
    peak_mb = found["peak_rss_kb"] / 1024
    before_mb, end_mb = found["rss_before_kb"] / 1024, found["rss_end_kb"] / 1024
    print(f"  dispatcher {seconds:g} s on it (child): peak RSS {peak_mb:.0f} MB "
          f"(before dispatching {before_mb:.0f} MB, at the end {end_mb:.0f} MB); "
          f"{found['sent']:,} sent in {found['batches']} claim batches ({found['claimed']:,} rows claimed)")
    ok = same and fan / bare2 < 3 and peak_mb < 300 and found["batches"] >= 10
    print(f"  targets (fan_out < 3× bare, peak RSS < 300 MB): {'MET' if ok else 'NOT MET'}")
    return ok


def main() -> None:
    """Run the fan-out and memory measurements on each available backend."""
    parser = argparse.ArgumentParser()
    parser.add_argument("--residents", type=int, default=1_000_000)
    parser.add_argument("--memory-seconds", type=float, default=20.0)
    parser.add_argument("--backends", default="sqlite,postgresql")
    parser.add_argument("--memory-child", metavar="DATABASE_URL", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.memory_child:
        memory_child(args.memory_child, args.memory_seconds)
        return
    results = []
    backends = args.backends.split(",")
    with tempfile.TemporaryDirectory(prefix="bench-fanout-") as tmp:
        if "sqlite" in backends:
            url = f"sqlite:///{tmp}/fanout.db"
            upgrade(url)
            results.append(bench_backend("SQLite", url, args.residents, args.memory_seconds))
    if "postgresql" in backends:
        from tests.pg import find_postgres

        server = find_postgres()
        if server is None:
            print("[PostgreSQL] not available here (no TEST_DATABASE_URL, no server binaries): skipped")
        else:
            try:
                server.create_database("bench_fanout")
                url = server.url_for("bench_fanout")
                upgrade(url)
                results.append(bench_backend("PostgreSQL", url, args.residents, args.memory_seconds))
            finally:
                server.drop_database("bench_fanout")
                server.stop()
    sys.exit(0 if all(results) else 1)


if __name__ == "__main__":
    main()
