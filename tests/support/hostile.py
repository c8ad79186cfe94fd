"""Hostile files built byte by byte in the tests: minimal XLSX packages, oversized bodies, non-audio bytes."""

from __future__ import annotations

import io
import os
import zipfile
from collections.abc import Iterator
from pathlib import Path

_NS = 'xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main"'
_REL_NS = 'xmlns="http://schemas.openxmlformats.org/package/2006/relationships"'
_DOC = "http://schemas.openxmlformats.org/officeDocument/2006/relationships"
_CONTENT_TYPES = (
    '<?xml version="1.0" encoding="UTF-8"?>'
    '<Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types">'
    '<Default Extension="rels" ContentType="application/vnd.openxmlformats-package.relationships+xml"/>'
    '<Default Extension="xml" ContentType="application/xml"/>'
    '<Override PartName="/xl/workbook.xml" '
    'ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet.main+xml"/>'
    '<Override PartName="/xl/worksheets/sheet1.xml" '
    'ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.worksheet+xml"/>'
    '<Override PartName="/xl/sharedStrings.xml" '
    'ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.sharedStrings+xml"/>'
    "</Types>"
)


def xlsx(rows_xml: str, *, dimension: str | None = None, shared_strings: list[str] | None = None) -> bytes:
    """A minimal workbook: one sheet with the given <row> elements (and, if given, its <dimension>)."""
    dim = f'<dimension ref="{dimension}"/>' if dimension else ""
    sheet = f'<?xml version="1.0" encoding="UTF-8"?><worksheet {_NS}>{dim}<sheetData>{rows_xml}</sheetData></worksheet>'
    workbook = (f'<?xml version="1.0" encoding="UTF-8"?><workbook {_NS} xmlns:r="{_DOC}">'
                '<sheets><sheet name="Danh sách" sheetId="1" r:id="rId1"/></sheets></workbook>')
    rels = [f'<Relationship Id="rId1" Type="{_DOC}/worksheet" Target="worksheets/sheet1.xml"/>']
    if shared_strings is not None:
        rels.append(f'<Relationship Id="rId2" Type="{_DOC}/sharedStrings" Target="sharedStrings.xml"/>')
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED, compresslevel=9) as package:
        package.writestr("[Content_Types].xml", _CONTENT_TYPES)
        package.writestr("_rels/.rels", f'<?xml version="1.0" encoding="UTF-8"?><Relationships {_REL_NS}>'
                         f'<Relationship Id="rId1" Type="{_DOC}/officeDocument" Target="xl/workbook.xml"/>'
                         "</Relationships>")
        package.writestr("xl/workbook.xml", workbook)
        package.writestr("xl/_rels/workbook.xml.rels", f'<?xml version="1.0" encoding="UTF-8"?>'
                         f'<Relationships {_REL_NS}>{"".join(rels)}</Relationships>')
        package.writestr("xl/worksheets/sheet1.xml", sheet)
        if shared_strings is not None:
            items = "".join(f"<si><t>{s}</t></si>" for s in shared_strings)
            package.writestr("xl/sharedStrings.xml", f'<?xml version="1.0" encoding="UTF-8"?><sst {_NS} '
                             f'count="{len(shared_strings)}" uniqueCount="{len(shared_strings)}">{items}</sst>')
    return buffer.getvalue()


def inline(ref: str, text: str) -> str:
    return f'<c r="{ref}" t="inlineStr"><is><t>{text}</t></is></c>'


# The review's 1.6 KB file: only A1 and XFD1048576 are set, so a dense reader allocates 17 billion cells.
SPARSE_ROWS = (f'<row r="1">{inline("A1", "Số điện thoại")}</row>'
               '<row r="1048576"><c r="XFD1048576"><v>1</v></c></row>')


def sparse_xlsx(*, dimension: str | None = "A1:XFD1048576") -> bytes:
    return xlsx(SPARSE_ROWS, dimension=dimension)


def one_big_cell_xlsx(megabytes: int) -> bytes:
    """A phone header and one shared string of `megabytes` MB that deflates to a few kilobytes."""
    rows = (f'<row r="1">{inline("A1", "Số điện thoại")}</row>'
            '<row r="2"><c r="A2" t="s"><v>0</v></c></row>')
    return xlsx(rows, dimension="A1:A2", shared_strings=["0" * (megabytes << 20)])


def counted_chunks(total: int, sink: list[int], chunk: int = 64 * 1024) -> Iterator[bytes]:
    """`total` bytes in chunks, recording in `sink` each chunk the server actually pulled."""
    sent = 0
    while sent < total:
        size = min(chunk, total - sent)
        sink.append(size)
        sent += size
        yield b"x" * size


def leftovers(directory: Path) -> list[str]:
    """Every file under `directory` (recursively), for 'nothing left behind' checks."""
    if not directory.exists():
        return []
    return sorted(str(Path(root, name).relative_to(directory))
                  for root, _dirs, files in os.walk(directory) for name in files)
