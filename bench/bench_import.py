"""Benchmark: import a 100,000-row residents CSV (or XLSX) into a fresh SQLite database, against a bare baseline.

Run: .venv/bin/python bench/bench_import.py [--rows 100000] [--format csv|xlsx]
Prints rows/s of broadcast.contacts.importing.importer and of a bare loop (csv.reader + phonenumbers.parse +
sqlite3 executemany INSERT over the same rows as CSV) measured in the same run, their ratio, and the
importer's peak memory (ru_maxrss of a child process that does only the import, and of its own children:
workbooks are parsed in a separate bounded process). Targets: ≥ 20,000 rows/s, < 300 MB.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import random
import resource
import sqlite3
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

COMMUNES = [("32248", "Xã Đất Mũi"), ("31825", "Phường Bạc Liêu"), ("32002", "Phường An Xuyên")]
PREFIXES = ["91", "94", "88", "90", "93", "70", "79", "96", "97", "98", "86", "32", "38", "83", "85", "56"]
SURNAMES = ["Nguyễn", "Trần", "Lê", "Phạm", "Huỳnh", "Võ", "Thạch", "Danh", "Lâm", "Dương"]
GIVEN = ["Văn An", "Thị Bình", "Minh Châu", "Thị Sa", "Văn Sơn", "Hoàng Long", "Thị Mai", "Quốc Huy"]
GROUPS = ["Hộ nghèo", "Ngư dân", "Hội Phụ nữ", "Người cao tuổi", "Đoàn viên"]


def _phone(rng: random.Random, n: int) -> str:
    nsn = rng.choice(PREFIXES) + f"{n:07d}"
    style = rng.random()
    if style < 0.5:
        return "0" + nsn
    if style < 0.65:
        return f"0{nsn[:2]} {nsn[2:5]} {nsn[5:]}"
    if style < 0.75:
        return "+84" + nsn
    if style < 0.85:
        return nsn  # Excel dropped the zero
    if style < 0.9:
        return f"0{nsn[:2]}.{nsn[2:5]}.{nsn[5:]}"
    return "0162" + f"{n:07d}"  # old 11-digit Viettel number


def generate(path: Path, rows: int, seed: int = 977) -> None:
    """Write the rows as CSV (UTF-8 with BOM) or, for a .xlsx path, as an Excel workbook."""
    if path.suffix == ".xlsx":
        from openpyxl import Workbook

        book = Workbook(write_only=True)
        sheet = book.create_sheet("Danh sách")
        for cells in _rows(rows, seed):
            sheet.append(cells)
        book.save(path)
        return
    with path.open("w", encoding="utf-8-sig", newline="") as handle:
        csv.writer(handle).writerows(_rows(rows, seed))


def _rows(rows: int, seed: int) -> Iterator[list[object]]:
    """A realistic officers' file: title row, mixed formats, ~2% bad phones, ~1% duplicates, blank rows."""
    rng = random.Random(seed)
    yield ["DANH SÁCH NGƯỜI DÂN NHẬN TIN PHỔ BIẾN PHÁP LUẬT"]
    yield []
    yield ["STT", "Họ và tên", "Số điện thoại", "Xã/Phường", "Địa chỉ", "Nhóm", "Ngôn ngữ", "Ghi chú"]
    for i in range(rows):
        roll = rng.random()
        if roll < 0.02:
            phone = rng.choice(["12345", "0290 3123456", "không có", "09123"])
        elif roll < 0.03 and i > 10:
            phone = "0" + PREFIXES[0] + f"{rng.randrange(i):07d}"
        else:
            phone = _phone(rng, i)
        commune = rng.choice([c[1] for c in COMMUNES] + ["Đất Mũi", "32002", "Xã Không Tồn Tại"])
        groups = "; ".join(rng.sample(GROUPS, rng.randrange(3)))
        language = "Khmer" if rng.random() < 0.05 else ""
        name = f"{rng.choice(SURNAMES)} {rng.choice(GIVEN)}"
        yield [i + 1, name, phone, commune, f"Ấp {rng.randrange(1, 12)}", groups, language, ""]
        if rng.random() < 0.002:
            yield []


def fresh_database(directory: Path, name: str) -> str:
    from broadcast.db import make_engine, upgrade
    from broadcast.models import Commune

    url = f"sqlite:///{directory / name}"
    upgrade(url)
    engine = make_engine(url)
    with engine.begin() as conn:
        conn.execute(Commune.__table__.insert(), [  # type: ignore[attr-defined]
            {"code": c, "province_code": "96", "name": n, "airing_slots": []} for c, n in COMMUNES
        ])
    engine.dispose()
    return url


def run_import(url: str, path: Path) -> dict[str, float]:
    """The measured work (also run alone in a child process to read its peak memory)."""
    from broadcast.contacts.importing.importer import import_contacts
    from broadcast.db import make_engine

    engine = make_engine(url)
    started, cpu_started = time.perf_counter(), time.process_time()
    report = import_contacts(engine, path)
    elapsed, cpu = time.perf_counter() - started, time.process_time() - cpu_started
    children = resource.getrusage(resource.RUSAGE_CHILDREN)  # the workbook reader process
    engine.dispose()
    return {"seconds": elapsed, "cpu_seconds": cpu, "rows": report.rows_read, "created": report.created,
            "skipped": report.skipped, "duplicates": report.duplicates, "bad_rows": len(report.bad_rows),
            "maxrss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
            "reader_maxrss_mb": children.ru_maxrss / 1024, "reader_cpu_seconds": children.ru_utime + children.ru_stime}


def run_baseline(directory: Path, path: Path, run: int = 0) -> float:
    """csv.reader + phonenumbers.parse of every row + one bare executemany INSERT; seconds."""
    import phonenumbers

    db = sqlite3.connect(directory / f"baseline{run}.db")
    db.execute("PRAGMA journal_mode=WAL")
    db.execute("CREATE TABLE contact (phone TEXT PRIMARY KEY, full_name TEXT, commune TEXT)")
    started = time.perf_counter()
    rows = []
    with path.open(encoding="utf-8-sig", newline="") as handle:
        reader = csv.reader(handle)
        for _ in range(3):
            next(reader)
        for cells in reader:
            if len(cells) < 3:
                continue
            try:
                number = phonenumbers.parse(cells[2], "VN")
            except phonenumbers.NumberParseException:
                continue
            if phonenumbers.is_valid_number(number):
                e164 = phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)
                rows.append((e164, cells[1], cells[3]))
    db.executemany("INSERT OR IGNORE INTO contact VALUES (?, ?, ?)", rows)
    db.commit()
    elapsed = time.perf_counter() - started
    db.close()
    return elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--repeat", type=int, default=3, help="runs of each side; the best is kept")
    parser.add_argument("--format", choices=("csv", "xlsx"), default="csv", help="the importer's file")
    parser.add_argument("--child", nargs=2, metavar=("URL", "CSV"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(run_import(args.child[0], Path(args.child[1]))))
        return
    with tempfile.TemporaryDirectory() as tmp:
        directory = Path(tmp)
        csv_path = directory / "residents.csv"
        generate(csv_path, args.rows)
        path = directory / f"residents.{args.format}"
        if args.format != "csv":
            generate(path, args.rows)
        print(f"file: {args.rows:,} rows, {args.format}, {path.stat().st_size / 1e6:.1f} MB; "
              f"best of {args.repeat} runs each, "
              f"interleaved (load average {os.getloadavg()[0]:.2f} on {os.cpu_count()} CPUs)")
        results, baselines = [], []
        for run in range(args.repeat):
            url = fresh_database(directory, f"import{run}.db")
            child = subprocess.run(
                [sys.executable, __file__, "--child", url, str(path)], check=True, capture_output=True, text=True
            )
            results.append(json.loads(child.stdout.strip().splitlines()[-1]))
            baselines.append(run_baseline(directory, csv_path, run))
        best = min(results, key=lambda r: r["seconds"])
        rate = best["rows"] / best["seconds"]
        base_rate = args.rows / min(baselines)
        reader_cpu = f" + reader process {best['reader_cpu_seconds']:.2f} s" if best["reader_cpu_seconds"] else ""
        print(f"importer: {best['rows']:,} rows in {best['seconds']:.2f} s = {rate:,.0f} rows/s "
              f"(CPU {best['cpu_seconds']:.2f} s{reader_cpu}; created {best['created']:,}, "
              f"skipped {best['skipped']:,}, duplicates {best['duplicates']:,}, "
              f"bad rows reported {best['bad_rows']:,})")
        runs = ", ".join(f"{r['seconds']:.2f}" for r in results)
        print(f"  all runs (s): {runs}")
        print(f"baseline (csv.reader + phonenumbers.parse + executemany): {min(baselines):.2f} s = "
              f"{base_rate:,.0f} rows/s; all runs (s): {', '.join(f'{b:.2f}' for b in baselines)}")
        print(f"ratio importer/baseline (rows/s): {rate / base_rate:.2f}x")
        peak = max(r["maxrss_mb"] for r in results)
        reader = max(r["reader_maxrss_mb"] for r in results)
        print(f"importer peak memory (child ru_maxrss): {peak:.0f} MB"
              + (f"; workbook reader process: {reader:.0f} MB" if reader else ""))
        ok = rate >= 20_000 and peak < 300
        print(f"targets (≥ 20,000 rows/s, < 300 MB): {'met' if ok else 'NOT met'}")


if __name__ == "__main__":
    main()
