"""Commune-level units (2025 two-tier reform): load a province from `vietnam-provinces` or from a CSV."""

from __future__ import annotations

import csv
import secrets
from dataclasses import dataclass
from pathlib import Path

from sqlmodel import Session, select

from broadcast.communes.models import Commune, DivisionType
from broadcast.exceptions import NotFoundError, ValidationFailed

_DIVISION_BY_NAME = {"xã": DivisionType.xa, "phường": DivisionType.phuong, "đặc khu": DivisionType.dac_khu}


@dataclass(frozen=True)
class CommuneRecord:
    code: str
    name: str
    division_type: str
    codename: str = ""


@dataclass(frozen=True)
class LoadResult:
    created: int
    updated: int
    total: int


def province_communes(province_code: str) -> list[CommuneRecord]:
    """The commune-level units of a province after 1 July 2025, from the `vietnam-provinces` package."""
    from vietnam_provinces import ProvinceCode, Ward

    try:
        province = ProvinceCode(int(province_code))
    except ValueError:
        raise NotFoundError(f"Không có tỉnh/thành phố mã {province_code}", field="province") from None
    return [
        CommuneRecord(
            code=str(int(ward.code)).zfill(5),
            name=ward.name,
            division_type=_DIVISION_BY_NAME.get(ward.division_type.value, DivisionType.xa),
            codename=ward.codename,
        )
        for ward in Ward.iter_by_province(province)
    ]


def read_communes_csv(path: Path) -> list[CommuneRecord]:
    """Read `code,name[,division_type]` rows (header required) for a province the package lacks."""
    with path.open(newline="", encoding="utf-8-sig") as fh:
        reader = csv.DictReader(fh)
        fields = {f.strip().lower(): f for f in reader.fieldnames or []}
        if "code" not in fields or "name" not in fields:
            raise ValidationFailed("Tệp CSV đơn vị hành chính cần các cột 'code' và 'name'", field="file")
        records = []
        for line, row in enumerate(reader, start=2):
            code = (row[fields["code"]] or "").strip()
            name = (row[fields["name"]] or "").strip()
            if not code.isdigit() or not name:
                raise ValidationFailed(f"Dòng {line}: mã hoặc tên đơn vị không hợp lệ", field="file")
            kind = (row.get(fields.get("division_type", ""), "") or "").strip().lower()
            division = _DIVISION_BY_NAME.get(kind) or _guess_division(name)
            records.append(CommuneRecord(code=code.zfill(5), name=name, division_type=division))
        return records


def _guess_division(name: str) -> str:
    lowered = name.lower()
    for prefix, kind in _DIVISION_BY_NAME.items():
        if lowered.startswith(prefix):
            return kind
    return DivisionType.xa


def upsert_communes(session: Session, province_code: str, records: list[CommuneRecord]) -> LoadResult:
    """Create or rename communes; officers' settings (legal-aid contact, slots, feed token) are kept."""
    existing = {c.code: c for c in session.exec(select(Commune).where(Commune.province_code == province_code))}
    created = updated = 0
    for record in records:
        commune = existing.get(record.code)
        if commune is None:
            session.add(
                Commune(
                    code=record.code,
                    province_code=province_code,
                    name=record.name,
                    division_type=record.division_type,
                    codename=record.codename,
                    feed_token=secrets.token_urlsafe(18),
                )
            )
            created += 1
        elif (commune.name, commune.division_type) != (record.name, record.division_type):
            commune.name, commune.division_type = record.name, record.division_type
            updated += 1
    session.flush()
    return LoadResult(created=created, updated=updated, total=len(records))
