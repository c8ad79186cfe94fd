"""The outbox dispatcher: claims due deliveries, sends them within the rate budget, records outcomes.

Crash safety: a row is `sending` from its claim until its outcome is written. If the process dies in
between, or a call times out, the row stays `sending`; once its lease has expired any dispatcher
reclaims it and asks the provider whether the message went out (`Channel.find_sent`) before it is
ever sent again. So a crash can delay a message, never double it.

Outages: while the database does not answer, the loop logs it once and retries quietly (outcomes already
known are kept and written when it is back); while the provider refuses connections, sending pauses and one
message tries again at growing intervals, so messages do not spend their attempts on it. Messages whose final
status never came are looked up at the provider by a StatusReconciler beside the loop (reconcile.py).
"""

from __future__ import annotations

import gc
import logging
import os
import socket
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from datetime import datetime, timedelta

from sqlalchemy import ColumnElement, and_, or_
from sqlalchemy.engine import Engine
from sqlmodel import Session, col, select

from broadcast.campaigns.models import Campaign, CampaignStatus
from broadcast.campaigns.progress import settle_finished
from broadcast.channels.core import rules
from broadcast.channels.core.budget import GateClosed, RateLimiter, gated
from broadcast.channels.core.claims import Claimed, Outcome, beat, claim_due, reclaim_stale, record_outcomes
from broadcast.channels.core.contract import (
    Channel,
    PermanentSendError,
    ProviderMessage,
    Result,
    TransientSendError,
    UnknownOutcome,
)
from broadcast.channels.core.reconcile import StatusReconciler
from broadcast.channels.core.screening import Ready, load_campaigns, screen
from broadcast.channels.core.shares import BudgetShares
from broadcast.config import Settings
from broadcast.contacts.models import ConsentSource, Contact
from broadcast.contacts.service import set_opt_out
from broadcast.db import utcnow
from broadcast.instruments import count_outcomes
from broadcast.journal.outage import QuietFailures
from broadcast.outbox.models import Delivery, DeliveryStatus, WaitingReason

log = logging.getLogger(__name__)
D = DeliveryStatus
UNSUBSCRIBED = 21610
# Requests reach the provider a little unevenly (thread wake-ups, GC, connection setup); pacing for a
# 1.03 s window keeps the provider's own count within the budget in every second (bench_dispatch.py).
ARRIVAL_GUARD = 0.03
CLAIM_AHEAD_SECONDS = 2.0  # sending claimed ahead at the rate limit (enough to cover the provider's latency)
HEARTBEAT_SECONDS = 10.0  # /healthz/ready wants a dispatcher heard from within the last minute
MAX_PAUSE_SECONDS = 30.0  # a provider refusing connections is tried again at least this often


def worker_name() -> str:
    return f"{socket.gethostname()[:60]}:{os.getpid()}:{uuid.uuid4().hex[:6]}"


class ProviderPause:
    """A provider that refuses connections: stop claiming, then try one message at growing intervals (1, 2,
    4 … 30 s); one log line when it starts and one when the provider answers again. Thread-safe."""

    def __init__(self, name: str, clock: Callable[[], float] = time.monotonic) -> None:
        self.name, self.clock = name, clock
        self._lock = threading.Lock()
        self._since: float | None = None
        self._until = 0.0
        self._interval = 0.0

    @property
    def paused(self) -> bool:
        """No claiming now (the next try is not due yet)."""
        return self._since is not None and self.clock() < self._until

    @property
    def probing(self) -> bool:
        """The provider was unreachable: send one message to see whether it answers again."""
        return self._since is not None

    def unreachable(self, reason: str) -> float:
        """A send could not connect; seconds until the next try."""
        with self._lock:
            now = self.clock()
            if self._since is None:
                self._since = now
                log.warning("%s unreachable (%s): sending paused, one message tries again at growing intervals",
                            self.name, reason)
            if now >= self._until:  # the many sends of one batch fail together: back off once for them
                self._interval = min(MAX_PAUSE_SECONDS, max(1.0, self._interval * 2))
                self._until = now + self._interval
            return max(0.0, self._until - now)

    def reached(self) -> None:
        """The provider answered (whatever it said)."""
        if self._since is None:  # the hot path: one attribute read per accepted message
            return
        with self._lock:
            since, self._since, self._until, self._interval = self._since, None, 0.0, 0.0
        if since is not None:
            log.warning("%s reachable again after %.1f s: sending resumes", self.name, self.clock() - since)


class Dispatcher:
    """Sends one channel's outbox; run several against PostgreSQL and each message still goes once."""

    def __init__(
        self,
        engine: Engine,
        settings: Settings,
        channel: Channel,
        *,
        rate_per_second: float | None = None,
        period: float = 1.0,
        limiter: RateLimiter | None = None,
        claim_where: ColumnElement[bool] | None = None,
        stale_where: ColumnElement[bool] | None = None,
        paced_campaigns: bool = True,
        worker: str | None = None,
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        """The rate budget is `rate_per_second` (SMS_RATE_PER_SECOND) counted over `period` seconds, or `limiter`;
        while running, every dispatcher of the same `channel.budget_key` shares it through the database.
        `claim_where`/`stale_where` narrow the rows this dispatcher claims and reconciles (SMS routed to gateway
        phones); `paced_campaigns` applies campaigns' own rates (off for phones, which keep their own pace)."""
        self.engine = engine
        self.settings = settings
        self.channel = channel
        self.kind = channel.delivery_channel
        self.worker = worker or worker_name()
        self.clock = clock
        self.limiter = limiter or RateLimiter(rate_per_second or settings.sms_rate_per_second, period=period,
                                              guard=ARRIVAL_GUARD)
        self.budget_key = channel.budget_key(settings)
        self.shares = BudgetShares(engine, self.worker)
        lease, timeout = settings.dispatcher_lease_seconds, settings.twilio_timeout_seconds
        # Claim no more than can be sent well inside the lease, so a live worker's rows never look stale,
        # and no more than about CLAIM_AHEAD_SECONDS of sending: replies and answers are claimed before
        # campaign messages, but only once there is room, so this bounds how long a resident waits for
        # an answer behind a large campaign.
        self.ahead = min(CLAIM_AHEAD_SECONDS, max(lease - timeout, 1.0) / 2)
        self.send_deadline = max(lease - timeout - 1.0, 0.5)
        self.claim_where, self.stale_where = claim_where, stale_where
        self.paced_campaigns = paced_campaigns
        self._paced: dict[int, tuple[float, RateLimiter]] = {}  # campaign id → (its own rate, its limiter)
        self._halted: set[int] = set()
        self._stop = threading.Event()
        self._last = {"flush": 0.0, "reconcile": 0.0, "halt": 0.0, "settle": 0.0, "beat": 0.0}
        self.pause = ProviderPause(channel.name)
        self._quiet = QuietFailures(log, f"dispatcher {channel.name}")

    @property
    def claim_cap(self) -> int:
        """How many rows may be in hand: about CLAIM_AHEAD_SECONDS of sending at this process's share."""
        return self._cap(self.limiter)

    def _cap(self, limiter: RateLimiter) -> int:
        if limiter.rate <= 0:
            return 0
        return max(1, min(self.settings.dispatcher_batch_size, int(limiter.rate * self.ahead)))

    # ---- one cycle -----------------------------------------------------------------------------

    def claims(self, inflight: Counter[int] | None = None) -> ColumnElement[bool] | None:
        """The rows to claim now: `claim_where`, and of the campaigns with their own rate only those this
        process holds a share of and has room for (`inflight`: rows in hand per campaign)."""
        if not self.paced_campaigns:
            return self.claim_where
        inflight = inflight or Counter()
        room = [cid for cid, (_rate, limiter) in self._paced.items() if inflight[cid] < self._cap(limiter)]
        paced = or_(col(Campaign.rate_per_second).is_(None), col(Delivery.campaign_id).in_(room))
        return paced if self.claim_where is None else and_(self.claim_where, paced)

    def claim_batch(self, limit: int, inflight: Counter[int] | None = None) -> tuple[list[Ready], list[Outcome]]:
        now = self.clock()
        with self.engine.begin() as conn:
            claimed = claim_due(conn, worker=self.worker, channel=self.kind, limit=limit, now=now,
                                where=self.claims(inflight))
            if not claimed:
                return [], []
            return screen(conn, claimed, self.settings, self.channel, now=now)

    def send_one(self, ready: Ready, claimed_at: float) -> Outcome:
        """Send one message (called from pool threads); never raises."""
        claimed = ready.claimed
        if claimed.campaign_id in self._halted:
            return Outcome(claimed.id, claimed.attempts, D.queued, Result.released,
                           waiting_reason=WaitingReason.paused)

        def halted() -> bool:  # paused or cancelled since the claim, stopping, or too late: the lease may be gone
            return (self._stop.is_set() or claimed.campaign_id in self._halted
                    or time.monotonic() - claimed_at > self.send_deadline)

        paced = self._paced.get(claimed.campaign_id) if claimed.campaign_id is not None else None
        # The campaign's own rate first, then the channel's budget (which can only delay a message further).
        if paced is not None and not paced[1].acquire(1, cancelled=halted):
            return Outcome(claimed.id, claimed.attempts, D.queued, Result.released)
        try:
            if self.channel.gates_requests:
                with gated(lambda: self.limiter.hold(ready.segments, cancelled=halted)) as passed:
                    result = self.channel.send(ready.message)
                if not passed():  # the channel's HTTP client must pass the gate; it did not: a bug to fix
                    log.error("delivery %s: %s sent without passing the budget's gate", claimed.id, self.channel.name)
            elif self.limiter.acquire(ready.segments, cancelled=halted):
                result = self.channel.send(ready.message)
            else:
                raise GateClosed("not granted")
        except GateClosed:
            return Outcome(claimed.id, claimed.attempts, D.queued, Result.released)
        except TransientSendError as exc:
            if exc.unreachable:  # nothing reached the provider: try again after the pause, attempt recorded
                wait = self.pause.unreachable(exc.message)
                return Outcome(claimed.id, claimed.attempts, D.queued, Result.transient, error_code=exc.code,
                               error_message=exc.message, next_attempt_at=self.clock() + timedelta(seconds=wait))
            self.pause.reached()
            return self._retry(claimed, exc.code, exc.message, exc.retry_after)
        except PermanentSendError as exc:
            self.pause.reached()
            return Outcome(claimed.id, claimed.attempts, D.failed, Result.permanent, error_code=exc.code,
                           error_message=exc.message)
        except UnknownOutcome as exc:
            log.warning("delivery %s: outcome unknown (%s); will reconcile", claimed.id, exc.message)
            return Outcome(claimed.id, claimed.attempts, D.sending, Result.unknown, error_message=exc.message)
        except Exception as exc:  # a bug or an unexpected library error: treat as unknown, reconcile
            log.exception("delivery %s: unexpected send error", claimed.id)
            return Outcome(claimed.id, claimed.attempts, D.sending, Result.unknown, error_message=repr(exc)[:200])
        self.pause.reached()
        return Outcome(claimed.id, claimed.attempts, D.sent, Result.accepted, provider=self.channel.name,
                       provider_sid=result.provider_sid, provider_status=result.status,
                       segments=result.segments or ready.segments, price=result.price, at=self.clock())

    def _retry(self, claimed: Claimed, code: int | None, message: str, retry_after: float | None) -> Outcome:
        if claimed.attempts >= self.settings.max_send_attempts:
            return Outcome(claimed.id, claimed.attempts, D.failed, Result.transient, error_code=code,
                           error_message=f"gave up after {claimed.attempts} attempts: {message}")
        delay = rules.backoff_seconds(claimed.attempts, base=self.settings.retry_base_seconds,
                                      cap=self.settings.retry_max_seconds)
        if retry_after is not None:
            delay = max(delay, retry_after)
        return Outcome(claimed.id, claimed.attempts, D.queued, Result.transient, error_code=code,
                       error_message=message, next_attempt_at=self.clock() + timedelta(seconds=delay),
                       waiting_reason=WaitingReason.retry_backoff)

    def record(self, outcomes: list[Outcome]) -> None:
        if not outcomes:
            return
        with Session(self.engine) as session:
            record_outcomes(session.connection(), outcomes, now=self.clock())
            for outcome in outcomes:
                if outcome.error_code == UNSUBSCRIBED:
                    self._mark_unsubscribed(session, outcome.delivery_id)
            session.commit()
        count_outcomes(self.kind, self.channel.name, outcomes)  # Prometheus counters (/metrics)

    def _mark_unsubscribed(self, session: Session, delivery_id: int) -> None:
        """Twilio 21610: the handset texted STOP to the carrier; honour it for every later send."""
        contact_id = session.exec(select(Delivery.contact_id).where(Delivery.id == delivery_id)).first()
        contact = session.get(Contact, contact_id) if contact_id else None
        if contact is not None:
            set_opt_out(session, contact, channel="sms", opted_out=True, source=ConsentSource.provider,
                        detail="Twilio 21610: recipient unsubscribed")

    def reconcile_stale(self) -> int:
        """Reclaim rows whose outcome is unknown and settle each with the provider's own record."""
        now = self.clock()
        with self.engine.begin() as conn:
            stale = reclaim_stale(conn, worker=self.worker, channel=self.kind,
                                  lease_seconds=self.settings.dispatcher_lease_seconds, now=now,
                                  where=self.stale_where)
            if not stale:
                return 0
            campaigns = load_campaigns(conn, {r.campaign_id for r in stale if r.campaign_id}, self.settings)
            languages: dict[int, str] = dict(conn.execute(
                select(Contact.id, Contact.language).where(col(Contact.id).in_({r.contact_id for r in stale}))
            ).all())
        outcomes: list[Outcome] = []
        for row in stale:
            body = row.body
            info = campaigns.get(row.campaign_id) if row.campaign_id else None
            if body is None and info is not None:
                body = info.body_for(row.channel, languages.get(row.contact_id, "vi") if row.contact_id else "vi")
            try:
                found = self.channel.find_sent(row.to_phone or "", row.claimed_at) if row.to_phone else []
            except Exception as exc:  # provider unreachable: these and the rest again after another lease
                if not self.pause.probing:  # (while sending is paused, the pause's own line says it)
                    log.warning("reconcile: provider lookup failed (%s); %d deliveries asked about after another "
                                "lease", exc.__class__.__name__, len(stale) - len(outcomes))
                break
            match = self._match(found, body or "")
            if match is not None:
                outcomes.append(Outcome(row.id, row.attempts, D.sent, Result.accepted, provider=self.channel.name,
                                        provider_sid=match.provider_sid, provider_status=match.status,
                                        segments=match.segments, at=match.created_at or now))
            else:
                outcomes.append(Outcome(row.id, row.attempts, D.queued, Result.not_sent, next_attempt_at=now,
                                        error_message="reconciled: provider has no such message"))
        self.record(outcomes)
        return len(outcomes)

    def _match(self, found: list[ProviderMessage], body: str) -> ProviderMessage | None:
        """The provider's message with our text that no other delivery has claimed, oldest first."""
        if not found:
            return None
        with self.engine.connect() as conn:
            sids = [m.provider_sid for m in found]
            taken = set(conn.execute(select(Delivery.provider_sid).where(col(Delivery.provider_sid).in_(sids)))
                        .scalars()) | self.channel.also_taken(conn, sids)
        for message in sorted(found, key=lambda m: m.created_at or self.clock()):
            if message.provider_sid not in taken and self.channel.owns(message, body):
                return message
        return None

    def refresh_halted(self) -> None:
        """Campaigns paused or cancelled since their rows were claimed stop within a second; campaigns with their
        own rate that are sending get a budget shared by every process, as the channel's is."""
        with self.engine.connect() as conn:
            ids = set(conn.execute(
                select(Campaign.id).where(col(Campaign.status).in_([CampaignStatus.paused,
                                                                     CampaignStatus.cancelled]))
            ).scalars())
            rated: dict[int, float] = {} if not self.paced_campaigns else {
                cid: rate for cid, rate in conn.execute(
                    select(col(Campaign.id), col(Campaign.rate_per_second))
                    .where(col(Campaign.status) == CampaignStatus.sending,
                           col(Campaign.rate_per_second).is_not(None))) if cid is not None and rate is not None}
        self._halted = ids
        for cid, (rate, _limiter) in list(self._paced.items()):
            if rated.get(cid) != rate:
                self.shares.leave(self._campaign_key(cid))
                del self._paced[cid]
        for cid, rate in rated.items():
            if cid not in self._paced:
                limiter = RateLimiter(rate, guard=ARRIVAL_GUARD)
                self.shares.join(self._campaign_key(cid), limiter)
                self._paced[cid] = (rate, limiter)

    def _campaign_key(self, campaign_id: int) -> str:
        return f"campaign:{campaign_id}:{self.kind}"

    def settle(self) -> None:
        with Session(self.engine) as session:
            settle_finished(session, now=self.clock())
            session.commit()

    # ---- the loop ------------------------------------------------------------------------------

    def run(self, stop: threading.Event | None = None) -> None:
        """Dispatch until `stop` is set; in-flight sends finish and are recorded before returning."""
        if stop is not None:
            self._stop = stop
        self.shares.join(self.budget_key, self.limiter)
        stop_shares = self.shares.start()
        # Everything loaded so far lives as long as the process: keep it out of the full collections,
        # whose 50–100 ms pauses would otherwise stall every sending thread at once.
        gc.freeze()
        pool = ThreadPoolExecutor(self.settings.dispatcher_concurrency, thread_name_prefix=f"send-{self.kind}",
                                  initializer=self._warm_up)
        # Start (and warm) every send thread now: one starting mid-campaign would stall the others' sends.
        for ready in [pool.submit(time.sleep, 0.01) for _ in range(self.settings.dispatcher_concurrency)]:
            ready.result()
        inflight: dict[Future[Outcome], Claimed] = {}
        pending: list[Outcome] = []
        reconciler = None
        if self.channel.looks_up_status:
            reconciler = StatusReconciler(self.engine, self.settings, self.channel, clock=self.clock)
            reconciler.start(self._stop)
        try:
            while not self._stop.is_set():
                try:
                    pending = self._cycle(pool, inflight, pending)
                    self._quiet.succeeded()
                except Exception as exc:  # the database or provider hiccuped: keep the worker alive
                    self._quiet.failed(exc)  # a database outage: one line when it starts, one when it ends
                    self._stop.wait(1.0)
        finally:
            for future in list(inflight):
                pending.append(future.result())
            pool.shutdown(wait=True)
            stop_shares()
            try:
                self.record(pending)
            except Exception as exc:  # stopping during an outage: the rows stay `sending`, reconciled later
                self._quiet.failed(exc)

    def _warm_up(self) -> None:
        """In each new send thread, before its first rate slot: build the channel's client there."""
        try:
            self.channel.warm_up()
        except Exception:  # the first send will report the problem properly
            log.exception("channel warm-up failed")

    def _cycle(self, pool: ThreadPoolExecutor, inflight: dict[Future[Outcome], Claimed],
               pending: list[Outcome]) -> list[Outcome]:
        """Housekeeping, then claim what there is room for, then collect finished sends."""
        tick = time.monotonic()
        if tick - self._last["halt"] > 1.0:
            self.refresh_halted()
            self._last["halt"] = tick
        if tick - self._last["reconcile"] > min(5.0, self.settings.dispatcher_lease_seconds / 2):
            self.reconcile_stale()
            self._last["reconcile"] = tick
        if tick - self._last["beat"] > HEARTBEAT_SECONDS:
            with self.engine.begin() as conn:
                beat(conn, worker=self.worker, provider=self.channel.name, now=self.clock())
            self._last["beat"] = tick
        claimed_any = False
        cap = self.claim_cap
        room = cap - len(inflight)
        if self.pause.probing:  # the provider refused connections: nothing until the next try, then one
            room = 0 if self.pause.paused or inflight else 1
        if room >= max(1, cap // 2) or (room == 1 and self.pause.probing):
            in_hand = Counter(c.campaign_id for c in inflight.values()
                              if c.campaign_id is not None and c.campaign_id in self._paced)
            ready, screened = self.claim_batch(room, in_hand)
            pending.extend(screened)
            claimed_any = bool(ready or screened)
            for item in ready:
                cid = item.claimed.campaign_id
                paced = self._paced.get(cid) if cid is not None else None
                if cid is not None and paced is not None:
                    if in_hand[cid] >= self._cap(paced[1]):
                        # more of a campaign with its own rate than it may send soon: back to the queue
                        pending.append(Outcome(item.claimed.id, item.claimed.attempts, D.queued, Result.released))
                        continue
                    in_hand[cid] += 1
                inflight[pool.submit(self.send_one, item, time.monotonic())] = item.claimed
        if inflight:
            done, _ = wait(list(inflight), timeout=0.1, return_when=FIRST_COMPLETED)
            for future in done:
                inflight.pop(future)
                pending.append(future.result())
        if pending and (len(pending) >= 100 or time.monotonic() - self._last["flush"] > 0.25 or not inflight):
            self.record(pending)
            pending = []
            self._last["flush"] = time.monotonic()
        if tick - self._last["settle"] > 2.0:
            self.settle()
            self._last["settle"] = tick
        if not inflight and not claimed_any:
            self._stop.wait(self.settings.dispatcher_poll_seconds)
        return pending

    def start(self) -> Callable[[], None]:
        """Run in a background thread; returns a function that stops it and waits."""
        self._stop = threading.Event()
        thread = threading.Thread(target=self.run, name=f"dispatcher-{self.kind}", daemon=True)
        thread.start()

        def stop() -> None:
            self._stop.set()
            thread.join(timeout=self.settings.twilio_timeout_seconds + 5)

        return stop

