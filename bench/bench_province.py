"""Province rehearsal: one SMS campaign to every resident of Cà Mau's 64 communes, end to end, on PostgreSQL.

Run: .venv/bin/python bench/bench_province.py [--residents 1000000] [--budget 300] [--workers 2]
                                               [--database-url postgresql://...]
`--residents 2600000` is the whole province. Processes, as a province would deploy them on one machine:
`broadcast serve` (web, API, webhooks, its own dispatcher and the active scheduler), `--workers` ×
`broadcast worker`, a standby `broadcast scheduler`, and the Twilio simulator as its own process sending
signed status callbacks (`sent`, then `delivered`) to `broadcast serve`. Every sending process shares one
budget, SMS_RATE_PER_SECOND = --budget, through the database. PostgreSQL runs as deployed: a cluster of its own
started here with deploy/postgresql/broadcast.conf and fsync on (or the server of --database-url, as it is).

The clock starts when the campaign is started (the fan-out of every delivery row included) and stops at the
last final status applied. Printed: that time against the ideal (residents ÷ budget) and the achieved share of
the budget; the most messages the simulator accepted in any one second (its own record); residents with
exactly one accepted message, lost and doubled; final statuses applied; p50/p95 of the campaign page and of
the metrics API, sampled once a second while the campaign sends; each process's peak memory (VmHWM); the
database's size per million deliveries. Exits non-zero when a target is missed: ≥ 90 % of the ideal rate,
never over the budget in any second, 0 lost, 0 doubled, every final status applied, pages p95 < 500 ms.
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from datetime import datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import httpx  # noqa: E402
from sqlalchemy import text  # noqa: E402
from sqlalchemy.engine import Engine  # noqa: E402
from sqlmodel import Session  # noqa: E402

from bench.support import broadcast_serve, free_port, postgres_database  # noqa: E402
from broadcast.accounts import service as accounts  # noqa: E402
from broadcast.db import make_engine, upgrade, utcnow  # noqa: E402
from broadcast.simulators.twilio.process import SimulatorProcess  # noqa: E402
from tests.support.seed import approved_campaign, start, wait_until  # noqa: E402
from tests.support.windows import busiest_second  # noqa: E402

ACCOUNT, TOKEN = "AC" + "7" * 32, "bench-province-token"
COMMUNES = 64  # Cà Mau after the 2025 merger
FINAL = ("delivered", "undelivered", "failed")
# How often the script counts the campaign's rows to see whether it has finished. The time it reports comes from
# the rows themselves (the last final status written), not from this loop; a count over a million rows costs
# PostgreSQL ~0.4 s of CPU, which a poll every second took from the processes measured.
POLL_SECONDS = 10.0
PAGE_P95_MS = 500


def seed(engine: Engine, residents: int) -> None:
    """64 communes of province 96 and `residents` spread evenly over them (set-based, seconds per million)."""
    with engine.begin() as conn:
        conn.execute(text(
            "INSERT INTO commune (code, province_code, name, division_type, codename, legal_aid_contact, "
            "airing_slots, feed_token, created_at) SELECT lpad((32000 + i)::text, 5, '0'), '96', "
            "'Xã ' || i, 'xa', '', '', '[]', 'tok' || i, now() FROM generate_series(1, :n) i"), {"n": COMMUNES})
        conn.execute(text(
            "INSERT INTO contact (phone, full_name, commune_code, address, language, note, sms_opted_out, "
            "voice_opted_out, consent_source, created_at, updated_at) SELECT '+8498' || lpad(i::text, 7, '0'), "
            "'Người dân ' || i, lpad((32000 + 1 + i % :c)::text, 5, '0'), '', 'vi', '', false, false, 'import', "
            "now(), now() FROM generate_series(0, :n - 1) i"), {"n": residents, "c": COMMUNES})
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.execute(text("ANALYZE"))


def peak_rss_mb(pid: int) -> float:
    """The process's peak resident memory (VmHWM), MB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return 0.0


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process so far (Linux /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def pct(values: list[float], p: float) -> float:
    values = sorted(values)
    return values[min(len(values) - 1, int(p * len(values)))] * 1000 if values else 0.0


class Sampler:
    """GETs the campaign page (signed-in session) and the metrics API (personal token) once a second each."""

    def __init__(self, base: str, campaign_id: int, token: str) -> None:
        self.page: list[float] = []
        self.api: list[float] = []
        self.errors = 0
        self._stop = threading.Event()
        self._web = httpx.Client(base_url=base, timeout=30, trust_env=False)
        csrf = re.search(r'name="csrf_token" value="([^"]+)"', self._web.get("/login").text)
        assert csrf is not None
        self._web.post("/login", data={"username": "officer", "password": "bench-password",
                                       "csrf_token": csrf.group(1)})
        self._api = httpx.Client(base_url=base, timeout=30, trust_env=False,
                                 headers={"Authorization": f"Bearer {token}"})
        self._paths = (f"/campaigns/{campaign_id}", f"/api/v1/metrics/campaigns/{campaign_id}")
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _get(self, client: httpx.Client, path: str, into: list[float]) -> None:
        t0 = time.perf_counter()
        status = client.get(path).status_code
        into.append(time.perf_counter() - t0)
        self.errors += status != 200

    def _run(self) -> None:
        while not self._stop.wait(1.0):
            self._get(self._web, self._paths[0], self.page)
            self._get(self._api, self._paths[1], self.api)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join()


def wait_for_members(engine: Engine, members: int, timeout: float = 60.0) -> None:
    """Until `members` processes hold a live share of some budget (they join within two heartbeats)."""
    query = text("SELECT max(n) FROM (SELECT count(*) AS n FROM budget_share WHERE expires_at > :now GROUP BY key) s")

    def joined() -> bool:
        with engine.connect() as conn:
            return (conn.execute(query, {"now": utcnow()}).scalar() or 0) >= members

    wait_until(joined, timeout=timeout, interval=0.2)


def finished(engine: Engine, campaign_id: int, args: argparse.Namespace, started: float,
             processes: list[subprocess.Popen[bytes]]) -> bool:
    """Wait until every delivery of the campaign has its final status (True), a process died or the campaign
    outlasted three times its ideal (False); a progress line a minute."""
    final_states = FINAL if args.callbacks == "settled" else ("sent", *FINAL)
    printed, died = 0.0, False

    def done() -> bool:
        nonlocal printed, died
        now = counts(engine, campaign_id)
        if time.time() - printed > 60:
            print(f"  {time.time() - started:6.0f} s: {dict(now)}", flush=True)
            printed = time.time()
        died = any(p.poll() is not None for p in processes)
        return died or sum(now[s] for s in final_states) >= args.residents

    try:
        wait_until(done, timeout=3 * args.residents / args.budget + 600, interval=POLL_SECONDS)
    except TimeoutError:
        return False
    return not died


def counts(engine: Engine, campaign_id: int) -> Counter[str]:
    with engine.connect() as conn:
        return Counter(dict(conn.execute(text("SELECT status, count(*) FROM delivery WHERE campaign_id = :c "
                                              "GROUP BY status"), {"c": campaign_id}).all()))


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--residents", type=int, default=1_000_000)
    parser.add_argument("--budget", type=float, default=300.0, help="SMS_RATE_PER_SECOND, of all processes")
    parser.add_argument("--workers", type=int, default=2, help="`broadcast worker` processes besides serve")
    parser.add_argument("--callbacks", default="settled", choices=["settled", "dropped"],
                        help="dropped: the simulator posts no status callbacks (final statuses come from none)")
    parser.add_argument("--database-url", default="")
    args = parser.parse_args()
    with postgres_database(args.database_url, "bench_province", as_deployed=True) as url:
        failed = run(args, url)
    sys.exit(1 if failed else 0)


def run(args: argparse.Namespace, url: str) -> bool:
    upgrade(url)
    engine = make_engine(url)
    t0 = time.perf_counter()
    seed(engine, args.residents)
    print(f"seeded {args.residents:,} residents over {COMMUNES} communes in {time.perf_counter() - t0:.0f} s")
    campaign_id = approved_campaign(engine)
    with Session(engine) as session:
        officer = accounts.create_user(session, username="officer", password="bench-password", role="officer")
        token = accounts.create_token(session, officer, name="bench")
        session.commit()
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    logs = Path(tempfile.mkdtemp(prefix="bench-province-"))
    with SimulatorProcess(ACCOUNT, TOKEN, realtime=True) as sim:
        sim.set_callback_mode(args.callbacks)
        env = {k: v for k, v in os.environ.items() if not k.startswith(("TWILIO_", "DATABASE_URL"))}
        env.update(DATABASE_URL=url, PUBLIC_BASE_URL=base, TWILIO_ACCOUNT_SID=ACCOUNT, TWILIO_AUTH_TOKEN=TOKEN,
                   TWILIO_SIMULATOR="false", TWILIO_API_BASE_URL=sim.base_url, GATEWAY_SIMULATOR="false",
                   SMS_RATE_PER_SECOND=str(args.budget), QUIET_HOURS_START="00:00", QUIET_HOURS_END="00:00",
                   PYTHONUNBUFFERED="1")
        extra: list[subprocess.Popen[bytes]] = []
        with broadcast_serve(env, port) as serve:
            try:
                for i in range(args.workers):
                    extra.append(subprocess.Popen([sys.executable, "-m", "broadcast.cli", "worker"], env=env,
                                                  cwd=ROOT, stdout=(logs / f"worker{i}.log").open("wb"),
                                                  stderr=subprocess.STDOUT))
                extra.append(subprocess.Popen([sys.executable, "-m", "broadcast.cli", "scheduler"], env=env,
                                              cwd=ROOT, stdout=(logs / "scheduler.log").open("wb"),
                                              stderr=subprocess.STDOUT))
                wait_for_members(engine, args.workers + 1)  # serve and the workers each hold a share of the budget
                sampler = Sampler(base, campaign_id, token)
                started = time.time()
                start(engine, campaign_id)
                print(f"campaign started; fan-out done after {time.time() - started:.1f} s")
                sampler.start()
                if not finished(engine, campaign_id, args, started, [serve, *extra]):
                    print("a process died or the campaign did not finish; logs in", logs)
                    return True
                sampler.stop()
                pids = {"serve": serve.pid, **{f"worker {i + 1}": p.pid for i, p in enumerate(extra[:-1])},
                        "scheduler (standby)": extra[-1].pid, "simulator": sim._process.pid if sim._process else 0}
                memory = {name: (peak_rss_mb(pid), cpu_seconds(pid)) for name, pid in pids.items() if pid}
            finally:
                for p in extra:
                    p.terminate()
                for p in extra:
                    p.wait(timeout=60)
        accepted = [m for m in sim.messages() if m["status"] != "failed"]
    return report(args, engine, campaign_id, started, accepted, sampler, memory)


def report(args: argparse.Namespace, engine: Engine, campaign_id: int, started: float,
           accepted: list[dict[str, str]], sampler: Sampler, memory: dict[str, tuple[float, float]]) -> bool:
    with engine.connect() as conn:
        last_final = conn.execute(text("SELECT max(updated_at) FROM delivery WHERE campaign_id = :c"),
                                  {"c": campaign_id}).scalar_one()
        final: dict[str, int] = dict(conn.execute(text("SELECT status, count(*) FROM delivery WHERE campaign_id = :c "
                                       "GROUP BY status"), {"c": campaign_id}).all())
        deliveries = conn.execute(text("SELECT count(*) FROM delivery")).scalar_one()
        size = conn.execute(text("SELECT pg_database_size(current_database())")).scalar_one()
        residents = conn.execute(text("SELECT count(*) FROM contact")).scalar_one()
        table = conn.execute(text("SELECT pg_total_relation_size('delivery')")).scalar_one()
    elapsed = last_final.timestamp() - started
    ideal = args.residents / args.budget
    times = [datetime.fromisoformat(m["date_created"]).timestamp() for m in accepted]
    sending = (max(times) - min(times)) if times else 0.0
    busiest, busiest_at, windows_over = busiest_second(times, args.budget)
    per_resident = Counter(m["to"] for m in accepted)
    exactly_one = sum(1 for n in per_resident.values() if n == 1)
    doubled = sum(1 for n in per_resident.values() if n > 1)
    lost = residents - len(per_resident)
    share = ideal / elapsed
    print(f"\nprocesses: broadcast serve (dispatcher + scheduler) + {args.workers} broadcast worker + standby "
          f"scheduler + simulator; {os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.1f} at the end")
    print(f"residents {args.residents:,}, budget {args.budget:g} msg/s for all processes together")
    print(f"start → last final status: {elapsed:,.0f} s; ideal {ideal:,.0f} s; {share:.1%} of the ideal rate "
          f"(first→last accepted at the simulator: {sending:,.0f} s, {len(accepted) / max(sending, 1e-9):.1f} "
          f"msg/s = {len(accepted) / max(sending, 1e-9) / args.budget:.1%} of the budget)")
    seconds = Counter(int(t) for t in times)
    over = sorted((n, s) for s, n in seconds.items() if n > args.budget)
    print(f"most accepted in any one second at the simulator: {busiest} (budget {args.budget:g}), in the window "
          f"from +{busiest_at - started:.1f} s; sliding windows over the budget: {windows_over:,} of {len(times):,}; "
          f"calendar seconds over the budget: {len(over)} of {len(seconds)}"
          + (f", the worst at +{over[-1][1] - started:.0f} s with {over[-1][0]}" if over else ""))
    print(f"residents with exactly one accepted message: {exactly_one:,} / {residents:,}; lost {lost}, "
          f"doubled {doubled}")
    print(f"final statuses applied: {final}")
    print(f"campaign page p50 {pct(sampler.page, 0.5):.0f} ms, p95 {pct(sampler.page, 0.95):.0f} ms "
          f"({len(sampler.page)} samples); metrics API p50 {pct(sampler.api, 0.5):.0f} ms, "
          f"p95 {pct(sampler.api, 0.95):.0f} ms; non-200: {sampler.errors}")
    print("peak memory (VmHWM) and CPU time: " + ", ".join(f"{k} {mb:.0f} MB {cpu:.0f} s"
                                                           for k, (mb, cpu) in memory.items()))
    print(f"database {size / 1e6:,.0f} MB for {deliveries:,} deliveries and {residents:,} residents: "
          f"{size / deliveries * 1e6 / 1e6:,.0f} MB per million deliveries (residents included); the delivery "
          f"table with its indexes {table / deliveries * 1e6 / 1e6:,.0f} MB per million")
    missed = []
    if share < 0.90:
        missed.append("end to end under 90 % of the ideal rate")
    if busiest > args.budget:
        missed.append("over the budget in some second")
    if lost or doubled:
        missed.append("lost or doubled")
    if args.callbacks == "settled" and sum(final.get(s, 0) for s in FINAL) != args.residents:
        missed.append("final statuses missing")
    if max(pct(sampler.page, 0.95), pct(sampler.api, 0.95)) >= PAGE_P95_MS or sampler.errors:
        missed.append(f"pages p95 ≥ {PAGE_P95_MS} ms or errors")
    print("ALL TARGETS MET" if not missed else "MISSED: " + "; ".join(missed))
    return bool(missed)


if __name__ == "__main__":
    main()
