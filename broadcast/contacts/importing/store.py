"""Set-based persistence of one chunk of imported residents: a few statements per chunk, never one per row.

Per chunk (one transaction): one SELECT of the residents already known, an INSERT … ON CONFLICT (phone)
DO UPDATE of the new and changed ones, and INSERT … SELECT statements for consent events and group/tag
memberships (ON CONFLICT DO NOTHING) that find the resident by phone, so no ids travel back to Python.
Statements are compiled once by SQLAlchemy's dialect constructs and run as driver executemany calls:
SQLAlchemy's per-row parameter processing cost more than the SQL itself on 100,000-row files.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from operator import itemgetter
from typing import Any

from sqlalchemy import Integer, Table, bindparam, cast, literal_column, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection, Engine

from broadcast.contacts.importing.rows import SCALARS, Record
from broadcast.contacts.models import (
    ConsentAction,
    ConsentEvent,
    ConsentSource,
    Contact,
    ContactGroup,
    ContactTag,
    GroupMember,
    Language,
    Tag,
)
from broadcast.db import utcnow

CONTACT: Table = Contact.__table__  # type: ignore[attr-defined]
GROUP: Table = ContactGroup.__table__  # type: ignore[attr-defined]
TAG: Table = Tag.__table__  # type: ignore[attr-defined]
MEMBER: Table = GroupMember.__table__  # type: ignore[attr-defined]
CONTACT_TAG: Table = ContactTag.__table__  # type: ignore[attr-defined]
CONSENT: Table = ConsentEvent.__table__  # type: ignore[attr-defined]

_EXISTING_COLUMNS = [CONTACT.c.id, CONTACT.c.phone, *(CONTACT.c[name] for name in SCALARS)]
_VI = Language.vi.value
_IMPORT = ConsentSource.import_file.value
_OPT_IN = ConsentAction.opt_in.value


@dataclass
class ChunkCounts:
    created: int = 0
    updated: int = 0
    unchanged: int = 0


class _Labels:
    """Group or tag ids by name, matched case-insensitively, created on first use (ON CONFLICT DO NOTHING)."""

    def __init__(self, table: Table) -> None:
        self.table = table
        self.by_fold: dict[str, int] | None = None
        self.by_name: dict[str, int] = {}  # exact spellings seen in the file → id

    def resolve(self, conn: Connection, names: Iterable[str]) -> dict[str, int]:
        if self.by_fold is None:
            self.by_fold = {row.name.casefold(): row.id for row in conn.execute(select(self.table)).fetchall()}
        by_fold = self.by_fold
        unseen = {n for n in names if n not in self.by_name}
        missing = {n.casefold(): n for n in unseen if n.casefold() not in by_fold}
        if missing:
            to_add = list(missing.values())
            conn.execute(_insert(conn, self.table).on_conflict_do_nothing(), [{"name": n} for n in to_add])
            query = select(self.table.c.id, self.table.c.name).where(self.table.c.name.in_(to_add))
            by_fold.update({row.name.casefold(): row.id for row in conn.execute(query).fetchall()})
        self.by_name.update({n: by_fold[n.casefold()] for n in unseen})
        return self.by_name


class ChunkWriter:
    """Writes chunks of records, one transaction per chunk."""

    def __init__(self, engine: Engine, *, detail: str, actor_id: int | None) -> None:
        self.engine = engine
        self.detail = detail[:300]
        self.actor_id = actor_id
        self.groups = _Labels(GROUP)
        self.tags = _Labels(TAG)

    def write(self, records: Sequence[Record]) -> ChunkCounts:
        """Upsert the chunk's residents and memberships; count created/updated/unchanged (not duplicates)."""
        counts = ChunkCounts()
        if not records:
            return counts
        with self.engine.begin() as conn:
            stamp = _db_time(conn, utcnow())
            found = _fetch_in(conn, _EXISTING_COLUMNS, CONTACT.c.phone, [r.phone for r in records])
            existing = {row.phone: row for row in found}
            group_ids = self.groups.resolve(conn, (n for r in records for n in r.groups))
            tag_ids = self.tags.resolve(conn, (n for r in records for n in r.tags))
            groups = {(r.phone, group_ids[n]) for r in records for n in r.groups}
            tags = {(r.phone, tag_ids[n]) for r in records for n in r.tags}
            if existing:
                groups -= _present(conn, MEMBER, MEMBER.c.group_id, existing)
                tags -= _present(conn, CONTACT_TAG, CONTACT_TAG.c.tag_id, existing)
            touched = {phone for phone, _ in groups} | {phone for phone, _ in tags}

            rows: list[dict[str, Any]] = []
            created: list[str] = []
            for record in records:
                old = existing.get(record.phone)
                values = _values(record, old, stamp)
                if old is None:
                    created.append(record.phone)
                    counts.created += not record.duplicate
                elif record.phone not in touched and all(values[n] == old._mapping[n] for n in SCALARS):
                    counts.unchanged += not record.duplicate
                    continue
                else:
                    counts.updated += not record.duplicate
                rows.append(values)
            if rows:
                _executemany(conn, _upsert(conn, list(rows[0])), rows)
            if created:
                _executemany(conn, _CONSENT_INSERT, self._consent_rows(created, stamp))
            for table, label, pairs in ((MEMBER, "group_id", groups), (CONTACT_TAG, "tag_id", tags)):
                if pairs:
                    params = [{"phone": phone, "label": lid} for phone, lid in sorted(pairs)]
                    _executemany(conn, _link(conn, table, label), params)
        return counts

    def _consent_rows(self, phones: list[str], stamp: Any) -> list[dict[str, Any]]:
        return [{"phone": p, "detail": self.detail, "actor_id": self.actor_id, "at": stamp} for p in phones]


def _insert(conn: Connection, table: Table) -> Any:
    """The dialect's INSERT, which has ON CONFLICT on both SQLite and PostgreSQL."""
    return (postgresql.insert if conn.dialect.name == "postgresql" else sqlite.insert)(table)


def _insert_values(conn: Connection, table: Table, keys: Iterable[str]) -> Any:
    return _insert(conn, table).values({key: bindparam(key) for key in keys})


def _upsert(conn: Connection, keys: list[str]) -> Any:
    """INSERT … ON CONFLICT (phone) DO UPDATE: consent, opt-out and created_at of a known resident stay."""
    stmt = _insert_values(conn, CONTACT, keys)
    return stmt.on_conflict_do_update(
        index_elements=[CONTACT.c.phone],
        set_={name: stmt.excluded[name] for name in (*SCALARS, "updated_at")},
    )


# One opt-in event (source import) per new resident, found by phone.
_CONSENT_INSERT = CONSENT.insert().from_select(
    ["contact_id", "channel", "action", "source", "detail", "actor_id", "at"],
    select(
        CONTACT.c.id, literal_column("'all'"), literal_column(f"'{_OPT_IN}'"), literal_column(f"'{_IMPORT}'"),
        bindparam("detail"),
        cast(bindparam("actor_id"), Integer), bindparam("at"),
    ).where(CONTACT.c.phone == bindparam("phone")),
)


def _link(conn: Connection, table: Table, label: str) -> Any:
    """INSERT … SELECT of one membership (resident found by phone), ignoring those already there."""
    source = select(CONTACT.c.id, cast(bindparam("label"), Integer)).where(CONTACT.c.phone == bindparam("phone"))
    return _insert(conn, table).from_select(["contact_id", label], source).on_conflict_do_nothing()


def _values(record: Record, old: Any, stamp: Any) -> dict[str, Any]:
    """The row after the import: for each field what the file gives, else what the database holds."""
    if old is None:
        return {
            "phone": record.phone, "full_name": record.full_name, "commune_code": record.commune_code,
            "address": record.address, "language": record.language or _VI, "note": record.note,
            "sms_opted_out": False, "voice_opted_out": False, "consent_source": _IMPORT,
            "consent_at": stamp, "created_at": stamp, "updated_at": stamp,
        }
    values: dict[str, Any] = {"phone": record.phone, "updated_at": stamp}
    previous = old._mapping
    for name in SCALARS:
        values[name] = getattr(record, name) or previous[name]
    # The insert half of the upsert needs every NOT NULL column even though the row exists.
    values.update(sms_opted_out=False, voice_opted_out=False, consent_source=_IMPORT, consent_at=stamp,
                  created_at=stamp)
    return values


def _fetch_in(conn: Connection, columns: list[Any], key: Any, values: Sequence[Any]) -> Sequence[Any]:
    """SELECT columns WHERE key IN values, with the values bound by the driver (one array on PostgreSQL)."""
    sql = str(select(*columns).compile(dialect=conn.dialect))
    name = conn.dialect.identifier_preparer.format_column(key, use_table=True)
    if conn.dialect.name == "postgresql":
        return conn.exec_driver_sql(f"{sql} WHERE {name} = ANY(%s)", (list(values),)).fetchall()
    marks = ", ".join("?" * len(values))
    return conn.exec_driver_sql(f"{sql} WHERE {name} IN ({marks})", tuple(values)).fetchall()


def _executemany(conn: Connection, stmt: Any, rows: list[dict[str, Any]]) -> None:
    """Compile the statement once and hand the driver every row; values must be in database form."""
    compiled = stmt.compile(dialect=conn.dialect)
    if compiled.positional:
        order = compiled.positiontup or []
        pick = itemgetter(*order) if len(order) > 1 else lambda row: tuple(row[k] for k in order)
        conn.exec_driver_sql(str(compiled), [pick(row) for row in rows])
    else:
        conn.exec_driver_sql(str(compiled), rows)


def _db_time(conn: Connection, moment: datetime) -> Any:
    """A timestamp as the UTCDateTime column would bind it on this connection's dialect."""
    processor = CONTACT.c.updated_at.type.dialect_impl(conn.dialect).bind_processor(conn.dialect)
    return processor(moment) if processor is not None else moment


def _present(conn: Connection, table: Table, label_column: Any, existing: dict[str, Any]) -> set[tuple[str, int]]:
    """The (phone, label id) memberships that residents already in the database have."""
    phones = {row.id: phone for phone, row in existing.items()}
    rows = _fetch_in(conn, [table.c.contact_id, label_column], table.c.contact_id, list(phones))
    return {(phones[contact_id], label) for contact_id, label in rows}
