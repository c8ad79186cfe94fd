"""Importing residents from the messy spreadsheets commune officers really keep (CSV and XLSX)."""

from __future__ import annotations

import csv
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import func
from sqlalchemy.engine import Engine
from sqlmodel import Session, select

from broadcast.contacts.importing import importer
from broadcast.contacts.importing.importer import ImportFileError, ImportReport, import_contacts
from broadcast.contacts.importing.rows import BadRow
from broadcast.contacts.models import ConsentEvent, Contact, ContactGroup, ContactTag, GroupMember, Tag
from broadcast.phones import INVALID, MISSING, NOT_VN_MOBILE
from tests.conftest import BOTH

pytestmark = BOTH  # the database matters here: SQL, locking or types differ

UNKNOWN_COMMUNE = "Không tìm thấy xã/phường trong danh mục; vẫn nhập người dân nhưng chưa gán xã/phường"
MANY_NUMBERS = "Ô có nhiều số; chỉ lấy số đầu tiên"
UNKNOWN_LANGUAGE = "Ngôn ngữ không rõ (dùng: Tiếng Việt hoặc Khmer); đã bỏ qua ô này"

HEADER: list[object] = [
    "STT", "Họ và tên", "Số điện thoại", "Xã/Phường", "Ấp/Khóm", "Nhóm", "Nhãn", "Ngôn ngữ", "Ghi chú",
]
MESSY_ROWS: list[list[object]] = [
    ["DANH SÁCH NGƯỜI DÂN NHẬN TIN NHẮN PHỔ BIẾN PHÁP LUẬT"],  # 1: title above the header
    ["(Kèm theo Kế hoạch số 12/KH-UBND)"],  # 2
    [],  # 3
    HEADER,  # 4
    [1, "Nguyễn Văn An", "0912 345 678", "Xã Đất Mũi", "Ấp Mũi", "Ngư dân; Hộ nghèo", "vùng sâu", "Tiếng Việt", ""],
    [2, "Thạch Thị Sa", "0162.123.4567", "Bạc Liêu", "Khóm 3", "Hội Phụ nữ", "khmer", "Khmer", "Cần phiên dịch"],
    [3, "Lê Văn Cường", "84987654321", "32002", "", "Ngư dân", "", "", ""],
    ["", " ", "", "", "", "", "", "", ""],  # 8: blank, skipped silently
    [4, "Trần Thị Dung", "12345", "Xã Đất Mũi", "", "", "", "", ""],
    [5, "Phạm Văn Em", "+84 91 234 5678", "", "", "Hội Nông dân", "", "", "Số thứ hai"],  # 10: duplicate of 5
    [6, "Huỳnh Văn Phúc", "0290 3 812 345", "Xã Đất Mũi", "", "", "", "", ""],  # 11: landline
    [7, "Danh Sơn", "0386 111 222", "Xã Tân Thuận Cũ", "", "", "", "", ""],  # 12: unknown commune
    [8, "Lâm Thị Hoa", "0386111333", "P. An Xuyên", "", "", "", "km", ""],
    [9, "Võ Văn Giàu", "", "Xã Đất Mũi", "", "", "", "", ""],  # 14: no phone
    [10, "Dương Minh Hiếu", "0901234567 / 0933333333", "dat mui", "", "", "", "", ""],
    [11, "Ngô Văn Ích", "0909090909", "", "", "", "", "Tiếng Pháp", ""],  # 16: unknown language
]
EXPECTED_BAD_ROWS = [
    BadRow(9, "Số điện thoại", "12345", INVALID, "error"),
    BadRow(10, "Số điện thoại", "+84 91 234 5678", "Trùng số điện thoại với dòng 5; đã gộp vào dòng đó", "warning"),
    BadRow(11, "Số điện thoại", "0290 3 812 345", NOT_VN_MOBILE, "error"),
    BadRow(12, "Xã/Phường", "Xã Tân Thuận Cũ", UNKNOWN_COMMUNE, "warning"),
    BadRow(14, "Số điện thoại", "", MISSING, "error"),
    BadRow(15, "Số điện thoại", "0901234567 / 0933333333", MANY_NUMBERS, "warning"),
    BadRow(16, "Ngôn ngữ", "Tiếng Pháp", UNKNOWN_LANGUAGE, "warning"),
]
IMPORTED = ["+84912345678", "+84321234567", "+84987654321", "+84386111222", "+84386111333", "+84901234567",
            "+84909090909"]


def contacts(engine: Engine) -> dict[str, Contact]:
    with Session(engine) as session:
        return {c.phone: c for c in session.exec(select(Contact)).all() if c.phone}


def labels(engine: Engine, phone: str) -> tuple[set[str], set[str]]:
    with Session(engine) as session:
        groups = session.exec(
            select(ContactGroup.name).join(GroupMember, GroupMember.group_id == ContactGroup.id)  # type: ignore[arg-type]
            .join(Contact, Contact.id == GroupMember.contact_id).where(Contact.phone == phone)  # type: ignore[arg-type]
        ).all()
        tags = session.exec(
            select(Tag.name).join(ContactTag, ContactTag.tag_id == Tag.id)  # type: ignore[arg-type]
            .join(Contact, Contact.id == ContactTag.contact_id).where(Contact.phone == phone)  # type: ignore[arg-type]
        ).all()
    return set(groups), set(tags)


def count(engine: Engine, model: type) -> int:
    with Session(engine) as session:
        return int(session.exec(select(func.count()).select_from(model)).one())


def counts(report: ImportReport) -> tuple[int, int, int, int, int, int]:
    return (report.rows_read, report.created, report.updated, report.unchanged, report.skipped,
            report.duplicates)


def test_messy_csv_every_good_row_lands_and_every_bad_row_is_reported(
    engine: Engine, communes: list[str], write_csv: Callable[..., Path]
) -> None:
    path = write_csv(MESSY_ROWS)
    report = import_contacts(engine, path, source_name="xa-dat-mui.csv", actor_id=7)

    assert report.bad_rows == EXPECTED_BAD_ROWS
    assert counts(report) == (11, 7, 0, 0, 3, 1)
    assert (report.errors, report.warnings) == (3, 4)
    assert report.columns == {
        "full_name": "Họ và tên", "phone": "Số điện thoại", "commune": "Xã/Phường", "address": "Ấp/Khóm",
        "groups": "Nhóm", "tags": "Nhãn", "language": "Ngôn ngữ", "note": "Ghi chú",
    }

    people = contacts(engine)
    assert sorted(people) == sorted(IMPORTED)
    an = people["+84912345678"]
    assert (an.full_name, an.commune_code, an.address, an.language) == ("Nguyễn Văn An", "32248", "Ấp Mũi", "vi")
    assert an.note == "Số thứ hai"  # the duplicate row filled what the first row left empty
    assert labels(engine, "+84912345678") == ({"Ngư dân", "Hộ nghèo", "Hội Nông dân"}, {"vùng sâu"})
    sa = people["+84321234567"]  # 0162… became 032…
    assert (sa.full_name, sa.commune_code, sa.language, sa.note) == ("Thạch Thị Sa", "31825", "km", "Cần phiên dịch")
    assert labels(engine, "+84321234567") == ({"Hội Phụ nữ"}, {"khmer"})
    assert people["+84987654321"].commune_code == "32002"  # by code
    assert people["+84386111222"].commune_code is None  # unknown commune: imported without one
    assert (people["+84386111333"].commune_code, people["+84386111333"].language) == ("32002", "km")
    assert people["+84901234567"].commune_code == "32248"  # "dat mui", no prefix, no diacritics
    assert people["+84909090909"].language == "vi"
    for person in people.values():
        assert person.consent_source == "import" and person.consent_at is not None
        assert not person.sms_opted_out and not person.voice_opted_out

    with Session(engine) as session:
        events = session.exec(select(ConsentEvent)).all()
    assert len(events) == 7
    assert {(e.action, e.source, e.channel, e.actor_id) for e in events} == {("opt_in", "import", "all", 7)}
    assert {e.detail for e in events} == {"Nhập từ tệp xa-dat-mui.csv"}
    assert count(engine, ContactGroup) == 4


def test_reimporting_the_same_file_changes_nothing(
    engine: Engine, communes: list[str], write_csv: Callable[..., Path]
) -> None:
    path = write_csv(MESSY_ROWS)
    import_contacts(engine, path)
    before = {p: c.model_dump() for p, c in contacts(engine).items()}
    memberships = (count(engine, GroupMember), count(engine, ContactTag), count(engine, ConsentEvent))

    again = import_contacts(engine, path)

    assert counts(again) == (11, 0, 0, 7, 3, 1)
    assert again.bad_rows == EXPECTED_BAD_ROWS
    assert {p: c.model_dump() for p, c in contacts(engine).items()} == before  # updated_at untouched too
    assert (count(engine, GroupMember), count(engine, ContactTag), count(engine, ConsentEvent)) == memberships


def test_opted_out_residents_stay_opted_out(
    engine: Engine, communes: list[str], write_csv: Callable[..., Path]
) -> None:
    import_contacts(engine, write_csv(MESSY_ROWS))
    opted_out_at = datetime(2026, 1, 5, 8, 0, tzinfo=UTC)
    with Session(engine) as session:
        sa = session.exec(select(Contact).where(Contact.phone == "+84321234567")).one()
        sa.sms_opted_out = sa.voice_opted_out = True
        sa.opted_out_at, sa.opt_out_source = opted_out_at, "sms_keyword"
        session.add(sa)
        session.commit()
    before = contacts(engine)["+84321234567"]

    rows = [list(r) for r in MESSY_ROWS]
    rows[5][1] = "Thạch Thị Sa (mẹ)"  # the officer corrected the name
    report = import_contacts(engine, write_csv(rows, name="corrected.csv"))

    assert (report.created, report.updated, report.unchanged) == (0, 1, 6)
    after = contacts(engine)["+84321234567"]
    assert after.full_name == "Thạch Thị Sa (mẹ)"
    assert (after.sms_opted_out, after.voice_opted_out) == (True, True)
    assert (after.opted_out_at, after.opt_out_source) == (opted_out_at, "sms_keyword")
    assert (after.consent_at, after.created_at) == (before.consent_at, before.created_at)
    assert after.updated_at > before.updated_at
    assert count(engine, ConsentEvent) == 7


def test_update_fills_and_changes_but_empty_cells_never_erase(
    engine: Engine, communes: list[str], write_csv: Callable[..., Path]
) -> None:
    header = ["SĐT", "Họ tên", "Xã", "Địa chỉ", "Nhóm"]
    import_contacts(engine, write_csv([header, ["0912345678", "An", "Đất Mũi", "Ấp 1", "Ngư dân"],
                                       ["0987654321", "Bình", "", "Ấp 2", ""]]))
    before = contacts(engine)

    report = import_contacts(engine, write_csv(
        [header, ["0912345678", "", "", "", "Hộ nghèo"],  # only a new group
         ["0987654321", "Bình", "An Xuyên", "Ấp 2", ""],  # a commune is added
         ["0911111111", "Cường", "", "", ""]],
        name="second.csv",
    ))

    assert (report.created, report.updated, report.unchanged) == (1, 2, 0)
    after = contacts(engine)
    an = after["+84912345678"]
    assert (an.full_name, an.commune_code, an.address) == ("An", "32248", "Ấp 1")
    assert labels(engine, "+84912345678")[0] == {"Ngư dân", "Hộ nghèo"}
    assert an.updated_at > before["+84912345678"].updated_at
    assert after["+84987654321"].commune_code == "32002"


def test_excel_file_with_title_numbers_as_phones_and_khmer(
    engine: Engine, communes: list[str], write_xlsx: Callable[..., Path]
) -> None:
    path = write_xlsx(
        [
            ["ỦY BAN NHÂN DÂN XÃ ĐẤT MŨI — DANH SÁCH HỘ DÂN"],  # 1 (merged across the sheet)
            [None],  # 2
            ["STT", "Họ tên", "SĐT", "Xã", "Nhóm", "Language"],  # 3
            [1, "Thạch Sô Phênh", 912345678, 32248, "Hội Phụ nữ, Người cao tuổi", "Khmer"],  # 4: int
            [2, "Lý Văn Tư", 987654321.0, "Phường Bạc Liêu", None, "Tiếng Việt"],  # 5: float
            [3, "Kim Thị Sóc", "0163 222 3333", "An Xuyên", "Hội Phụ nữ", "km"],  # 6: old prefix
            [None, None, None, None, None, None],  # 7
            [4, "Sai Số", 12345, 32248, None, None],  # 8
            [5, "Trùng Số", 84912345678, None, "Ngư dân", None],  # 9: duplicate of row 4
            [6, "Xã Lạ", 352223333, "Xã Không Có", None, None],  # 10
        ],
        merge_title=True,
    )
    report = import_contacts(engine, path)

    assert report.file_format == "excel"
    assert report.bad_rows == [
        BadRow(8, "SĐT", "12345", INVALID, "error"),
        BadRow(9, "SĐT", "84912345678", "Trùng số điện thoại với dòng 4; đã gộp vào dòng đó", "warning"),
        BadRow(10, "Xã", "Xã Không Có", UNKNOWN_COMMUNE, "warning"),
    ]
    assert counts(report) == (6, 4, 0, 0, 1, 1)
    people = contacts(engine)
    assert sorted(people) == ["+84332223333", "+84352223333", "+84912345678", "+84987654321"]
    assert (people["+84912345678"].commune_code, people["+84912345678"].language) == ("32248", "km")
    assert (people["+84987654321"].commune_code, people["+84987654321"].language) == ("31825", "vi")
    assert people["+84332223333"].commune_code == "32002"
    assert labels(engine, "+84912345678")[0] == {"Hội Phụ nữ", "Người cao tuổi", "Ngư dân"}
    assert count(engine, ContactGroup) == 3  # "Hội Phụ nữ" created once

    again = import_contacts(engine, path)
    assert counts(again) == (6, 0, 0, 4, 1, 1)


def test_missing_phone_column_is_a_clear_file_error(
    engine: Engine, communes: list[str], write_csv: Callable[..., Path]
) -> None:
    path = write_csv([["Danh sách"], ["STT", "Họ và tên", "Địa chỉ", "Xã"], ["1", "An", "Ấp 1", "Đất Mũi"]])
    with pytest.raises(ImportFileError) as caught:
        import_contacts(engine, path)
    assert "Không tìm thấy cột số điện thoại" in caught.value.message
    assert "“Họ và tên”, “Địa chỉ”" in caught.value.message
    assert caught.value.details["headers"] == ["STT", "Họ và tên", "Địa chỉ", "Xã"]
    assert caught.value.status_code == 422
    assert count(engine, Contact) == 0


@pytest.mark.parametrize(
    ("content", "name", "expected"),
    [
        (b"", "empty.csv", "Tệp trống"),
        (b"\n\n ; ; \n", "blank.csv", "Tệp trống"),
        (b"PK\x03\x04 definitely not a workbook", "broken.xlsx", "Không đọc được tệp Excel"),
    ],
)
def test_unreadable_files_raise_import_file_error(
    engine: Engine, tmp_path: Path, content: bytes, name: str, expected: str
) -> None:
    path = tmp_path / name
    path.write_bytes(content)
    with pytest.raises(ImportFileError, match=expected):
        import_contacts(engine, path)
    with pytest.raises(ImportFileError, match="Không tìm thấy tệp"):
        import_contacts(engine, tmp_path / "missing.csv")


@pytest.mark.parametrize(
    ("encoding", "delimiter"),
    [("cp1258", ";"), ("utf-16", "\t"), ("utf-8", "\t"), ("utf-8-sig", ";"), ("latin-1", ",")],
)
def test_encodings_and_delimiters_offices_produce(
    engine: Engine, communes: list[str], write_csv: Callable[..., Path], encoding: str, delimiter: str
) -> None:
    name = "Nguyễn Thị Hồng Nhung" if encoding != "latin-1" else "Nguyen Thi Hong Nhung"
    address = "Ấp Cái Mòi, xã Đất Mũi" if encoding != "latin-1" else "Ap Cai Moi, xa Dat Mui"
    rows = [["Danh sách người dân" if encoding != "latin-1" else "Danh sach"],
            ["Họ và tên", "Điện thoại", "Địa chỉ", "Phường"] if encoding != "latin-1"
            else ["Full name", "Phone", "Address", "Ward"],
            [name, "0912 345 678", address, "An Xuyên" if encoding != "latin-1" else "32002"]]
    report = import_contacts(engine, write_csv(rows, encoding=encoding, delimiter=delimiter))
    assert report.bad_rows == []
    person = contacts(engine)["+84912345678"]
    assert (person.full_name, person.address, person.commune_code) == (name, address, "32002")


def test_duplicates_across_chunks_merge_like_duplicates_inside_one(
    engine: Engine, communes: list[str], write_csv: Callable[..., Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(importer, "CHUNK_SIZE", 2)
    rows = [["SĐT", "Họ tên", "Xã", "Ghi chú", "Nhóm"],
            ["0912345678", "An", "", "", "Ngư dân"],
            ["0911111111", "Bình", "", "", ""],
            ["0922222222", "Cường", "", "", ""],
            ["+84912345678", "Tên khác", "Đất Mũi", "ghi chú sau", "Hộ nghèo"],  # row 5, another chunk
            ["0912.345.678", "Tên thứ ba", "Bạc Liêu", "khác", ""]]  # row 6: nothing left to fill
    progress: list[int] = []
    report = import_contacts(engine, write_csv(rows), progress=progress.append)

    assert counts(report) == (5, 3, 0, 0, 0, 2)
    assert [b.row for b in report.bad_rows] == [5, 6]
    assert progress == sorted(progress) and progress[-1] == 5
    an = contacts(engine)["+84912345678"]
    assert (an.full_name, an.commune_code, an.note) == ("An", "32248", "ghi chú sau")
    assert labels(engine, "+84912345678")[0] == {"Ngư dân", "Hộ nghèo"}

    before = {p: c.model_dump() for p, c in contacts(engine).items()}
    again = import_contacts(engine, write_csv(rows))
    assert counts(again) == (5, 0, 0, 3, 0, 2)
    assert {p: c.model_dump() for p, c in contacts(engine).items()} == before


def test_bad_rows_csv_opens_in_excel(
    engine: Engine, communes: list[str], write_csv: Callable[..., Path], tmp_path: Path
) -> None:
    report = import_contacts(engine, write_csv(MESSY_ROWS))
    out = tmp_path / "loi.csv"
    report.write_csv(out)

    raw = out.read_bytes()
    assert raw.startswith(b"\xef\xbb\xbf")
    with out.open(encoding="utf-8-sig", newline="") as handle:
        lines = list(csv.reader(handle))
    assert lines[0] == ["Dòng", "Cột", "Giá trị", "Lý do", "Mức độ"]
    assert lines[1] == ["9", "Số điện thoại", "12345", INVALID, "Lỗi (bỏ qua dòng)"]
    assert lines[4] == ["12", "Xã/Phường", "Xã Tân Thuận Cũ", UNKNOWN_COMMUNE, "Cảnh báo"]
    assert len(lines) == 1 + len(EXPECTED_BAD_ROWS)


def test_excel_row_numbers_count_leading_empty_rows_and_columns(
    engine: Engine, communes: list[str], tmp_path: Path
) -> None:
    from openpyxl import Workbook

    book = Workbook()
    sheet = book.active
    assert sheet is not None
    sheet["C3"] = "Danh sách"  # rows 1–2 and columns A–B are empty
    sheet["C5"], sheet["D5"] = "Điện thoại", "Tên"
    sheet["C6"], sheet["D6"] = "0912345678", "An"
    sheet["C8"], sheet["D8"] = "không có số", "Bình"
    path = tmp_path / "offset.xlsx"
    book.save(path)

    report = import_contacts(engine, path)
    assert report.bad_rows == [BadRow(8, "Điện thoại", "không có số", INVALID, "error")]
    assert contacts(engine)["+84912345678"].full_name == "An"


@pytest.mark.parametrize(
    ("header", "field"),
    [
        ("Số điện thoại", "phone"), ("SĐT", "phone"), ("số đt/Zalo", "phone"), ("Điện thoại (bắt buộc)", "phone"),
        ("*Mobile:", "phone"), ("PHONE", "phone"), ("Họ và tên chủ hộ", "full_name"), ("Full name", "full_name"),
        ("Tên", "full_name"), ("Xã/Phường", "commune"), ("Đơn vị", "commune"), ("Ward", "commune"),
        ("Ấp/Khóm", "address"), ("Địa chỉ", "address"), ("Group(s)", "groups"), ("NHÓM", "groups"),
        ("Tags", "tags"), ("Nhãn", "tags"), ("Ngôn ngữ", "language"), ("Language", "language"),
        ("Ghi chú", "note"), ("STT", None), ("Ngày sinh", None), (12, None), (None, None),
    ],
)
def test_header_names_are_matched_without_accents_or_case(header: object, field: str | None) -> None:
    from broadcast.contacts.importing.header import header_field

    assert header_field(header) == field
