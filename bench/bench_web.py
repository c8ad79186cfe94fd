"""Server time of the web pages with many residents (default one million) on SQLite.

Seeds residents in three communes (a tenth in a group, 3 % opted out), users and a few campaigns, then times
each page in-process (FastAPI TestClient, signed in through the login form): median and worst of N requests.
Usage: .venv/bin/python bench/bench_web.py [--residents 1000000] [--repeat 7]
"""

from __future__ import annotations

import argparse
import re
import statistics
import sys
import tempfile
import time
from pathlib import Path

from fastapi.testclient import TestClient
from sqlalchemy import insert
from sqlmodel import Session

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from broadcast.accounts import service as accounts
from broadcast.app import create_app
from broadcast.campaigns import service as campaigns
from broadcast.campaigns.schemas import AudienceIn, CampaignCreate
from broadcast.config import load_settings
from broadcast.contacts.models import Contact, ContactGroup, GroupMember
from broadcast.db import utcnow
from tests.support.seed import COMMUNES, seed_communes

FAMILY = ["Nguyễn", "Trần", "Lê", "Phạm", "Huỳnh", "Võ", "Đặng", "Bùi", "Thạch", "Danh"]
GIVEN = ["An", "Bình", "Cường", "Dung", "Hà", "Hạnh", "Hùng", "Lan", "Mai", "Nam"]


def seed(engine, count: int) -> int:  # type: ignore[no-untyped-def]
    seed_communes(engine)
    codes = [code for code, _ in COMMUNES]
    now = utcnow()
    with engine.begin() as conn:
        group_id = conn.execute(insert(ContactGroup).values(name="Ngư dân", description="")).inserted_primary_key[0]
        for start in range(0, count, 20_000):
            rows = [{"id": i + 1, "phone": f"+8498{i:07d}", "full_name": f"{FAMILY[i % 10]} Văn {GIVEN[i // 10 % 10]}",
                     "commune_code": codes[i % 3], "language": "km" if i % 17 == 0 else "vi",
                     "sms_opted_out": i % 33 == 0, "voice_opted_out": False, "address": "", "note": "",
                     "consent_source": "import", "created_at": now, "updated_at": now}
                    for i in range(start, min(start + 20_000, count))]
            conn.execute(insert(Contact), rows)
            conn.execute(insert(GroupMember), [{"contact_id": r["id"], "group_id": group_id}
                                               for r in rows if r["id"] % 10 == 0])
    with Session(engine) as session:
        officer = accounts.create_user(session, username="officer", password="bench-password", role="officer")
        accounts.create_user(session, username="approver", password="bench-password", role="approver")
        campaign_ids = []
        for n in range(3):
            campaign = campaigns.create_campaign(session, CampaignCreate(
                title=f"Chiến dịch {n}", sms_text="Luật Đất đai 2024 có hiệu lực.",
                audience=AudienceIn(communes=[codes[n]])), author_id=officer.id)
            assert campaign.id is not None
            campaigns.submit(session, campaign.id)
            campaign_ids.append(campaign.id)
        session.commit()
    return campaign_ids[0]


def login(client: TestClient, username: str) -> str:
    token = re.search(r'name="csrf_token" value="([^"]+)"', client.get("/login").text).group(1)  # type: ignore[union-attr]
    client.post("/login", data={"username": username, "password": "bench-password", "csrf_token": token})
    return re.search(r'name="csrf-token" content="([^"]+)"', client.get("/residents").text).group(1)  # type: ignore[union-attr]


def timed(client: TestClient, method: str, path: str, repeat: int, **kwargs: object) -> tuple[float, float]:
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        response = client.request(method, path, **kwargs)  # type: ignore[arg-type]
        times.append((time.perf_counter() - start) * 1000)
        assert response.status_code == 200, (path, response.status_code)
    return statistics.median(times), max(times)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--residents", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=7)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        settings = load_settings(database_url=f"sqlite:///{tmp}/bench.db", media_dir=Path(tmp) / "media",
                                 _env_file=None)
        app = create_app(settings)
        with TestClient(app) as client:
            started = time.perf_counter()
            campaign_id = seed(app.state.engine, args.residents)
            print(f"seeded {args.residents:,} residents in {time.perf_counter() - started:.1f} s")
            csrf = login(client, "officer")
            pages = [("GET", "/", {}), ("GET", "/residents", {}), ("GET", "/residents?page=500", {}),
                     ("GET", "/residents?commune=32248&state=out", {}), ("GET", "/residents?group=1", {}),
                     ("GET", "/residents?q=0980012", {}), ("GET", "/residents?q=Thạch", {}),
                     ("GET", "/campaigns", {}), ("GET", "/campaigns/new", {}),
                     ("GET", f"/campaigns/{campaign_id}", {}),
                     ("POST", "/ui/audience/count", {"json": {"communes": ["32248"], "groups": [1]},
                                                     "headers": {"X-CSRF-Token": csrf}}),
                     ("POST", "/ui/sms/estimate", {"json": {"text": "Luật Đất đai 2024"},
                                                   "headers": {"X-CSRF-Token": csrf}}),
                     ("GET", "/inbox", {})]
            print(f"{'page':48} {'median ms':>10} {'worst ms':>10}")
            for method, path, kwargs in pages:
                median, worst = timed(client, method, path, args.repeat, **kwargs)
                print(f"{method + ' ' + path:48} {median:10.1f} {worst:10.1f}")
            login(client, "approver")
            median, worst = timed(client, "GET", "/approvals", args.repeat)
            print(f"{'GET /approvals (3 pending)':48} {median:10.1f} {worst:10.1f}")


if __name__ == "__main__":
    main()
