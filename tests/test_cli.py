"""The `broadcast` command as an officer runs it: a fresh SQLite file, communes, import, the demo."""

from __future__ import annotations

import os
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest
from sqlmodel import Session, select

from broadcast.db import make_engine
from broadcast.models import Campaign, Commune, Contact, User


def run(tmp_path: Path, *args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    base = {k: v for k, v in os.environ.items() if not k.startswith(("TWILIO_", "DATABASE_URL", "MEDIA_DIR"))}
    base.update({"DATABASE_URL": f"sqlite:///{tmp_path / 'cli.db'}", "MEDIA_DIR": str(tmp_path / "media")})
    base.update(env or {})
    return subprocess.run([sys.executable, "-m", "broadcast.cli", *args], cwd=tmp_path, env=base,
                          capture_output=True, text=True, timeout=300)


@pytest.fixture
def db(tmp_path: Path) -> Path:
    return tmp_path / "cli.db"


def test_upgrade_then_communes_then_import_on_an_empty_sqlite_file(tmp_path: Path, db: Path) -> None:
    assert run(tmp_path, "db", "upgrade").returncode == 0
    loaded = run(tmp_path, "communes", "load")
    assert loaded.returncode == 0, loaded.stderr
    engine = make_engine(f"sqlite:///{db}")
    with Session(engine) as session:
        communes = session.exec(select(Commune)).all()
    assert len(communes) == 64
    assert Counter(c.division_type for c in communes) == {"xa": 55, "phuong": 9}
    assert {"32248", "31825", "32002"} <= {c.code for c in communes}
    again = run(tmp_path, "communes", "load")
    assert "thêm mới 0" in again.stdout

    sheet = tmp_path / "danh_sach.csv"
    sheet.write_text("DANH SÁCH NGƯỜI DÂN XÃ ĐẤT MŨI\n\nHọ tên,Số điện thoại,Xã/Phường\n"
                     "Nguyễn Văn An,0912 345 678,Đất Mũi\nTrần Thị Bé,01623456789,Xã Đất Mũi\n"
                     "Lỗi,12345,Đất Mũi\n", encoding="utf-8")
    report = tmp_path / "loi.csv"
    imported = run(tmp_path, "contacts", "import", str(sheet), "--report", str(report))
    assert imported.returncode == 0, imported.stderr
    with Session(engine) as session:
        phones = sorted(p or "" for p in session.exec(select(Contact.phone)).all())
    assert phones == ["+84323456789", "+84912345678"]
    assert "12345" in report.read_text(encoding="utf-8-sig")
    engine.dispose()


def test_communes_from_a_csv_for_any_province(tmp_path: Path, db: Path) -> None:
    source = tmp_path / "tinh.csv"
    source.write_text("code,name\n00004,Phường Ba Đình\n00008,Phường Ngọc Hà\n10105,Xã Minh Châu\n",
                      encoding="utf-8")
    done = run(tmp_path, "communes", "load", "--province", "1", "--csv", str(source))
    assert done.returncode == 0, done.stderr
    engine = make_engine(f"sqlite:///{db}")
    with Session(engine) as session:
        rows = session.exec(select(Commune.code, Commune.division_type, Commune.province_code)).all()
    assert sorted(rows) == [("00004", "phuong", "01"), ("00008", "phuong", "01"), ("10105", "xa", "01")]
    engine.dispose()
    bad = tmp_path / "bad.csv"
    bad.write_text("ma,ten\n1,x\n", encoding="utf-8")
    refused = run(tmp_path, "communes", "load", "--csv", str(bad))
    assert refused.returncode == 1 and "code" in refused.stderr


def test_demo_seeds_once_however_often_it_runs(tmp_path: Path, db: Path) -> None:
    first = run(tmp_path, "demo", "--seed-only")
    assert first.returncode == 0, first.stderr
    assert "bct_" in first.stdout  # an admin API token to try the API with
    second = run(tmp_path, "demo", "--seed-only")
    assert second.returncode == 0, second.stderr
    engine = make_engine(f"sqlite:///{db}")
    with Session(engine) as session:
        assert len(session.exec(select(Contact.id)).all()) == 300
        assert len(session.exec(select(Campaign.id)).all()) == 2
        assert len(session.exec(select(User.id)).all()) == 5
    engine.dispose()
    assert list((tmp_path / "media").rglob("*.mp3")), "the demo's loudspeaker clip was rendered offline"


def test_users_and_tokens_commands(tmp_path: Path) -> None:
    made = run(tmp_path, "users", "create", "--username", "Admin", "--password", "rat-bi-mat-1", "--role",
               "admin")
    assert made.returncode == 0, made.stderr
    short = run(tmp_path, "users", "create", "--username", "b", "--password", "123", "--role", "officer")
    assert short.returncode == 1 and "10" in short.stderr
    token = run(tmp_path, "tokens", "create", "--username", "admin")
    assert token.returncode == 0 and token.stdout.strip().startswith("bct_")
