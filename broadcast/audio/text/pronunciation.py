"""Built-in readings of abbreviations and legal document codes, and the officer-editable dictionary."""

from __future__ import annotations

import json
import os
import tempfile
import threading
from pathlib import Path

from broadcast.exceptions import ValidationFailed

# Whole-word, case-sensitive expansions of abbreviations common in commune bulletins.
ABBREVIATIONS: dict[str, str] = {
    "UBND": "Ủy ban nhân dân",
    "HĐND": "Hội đồng nhân dân",
    "UBMTTQVN": "Ủy ban Mặt trận Tổ quốc Việt Nam",
    "UBMTTQ": "Ủy ban Mặt trận Tổ quốc",
    "MTTQVN": "Mặt trận Tổ quốc Việt Nam",
    "MTTQ": "Mặt trận Tổ quốc",
    "TAND": "Tòa án nhân dân",
    "VKSND": "Viện kiểm sát nhân dân",
    "CAND": "Công an nhân dân",
    "QĐND": "Quân đội nhân dân",
    "CA": "Công an",
    "CSGT": "cảnh sát giao thông",
    "PCCC": "phòng cháy chữa cháy",
    "PCTT": "phòng chống thiên tai",
    "TKCN": "tìm kiếm cứu nạn",
    "ATGT": "an toàn giao thông",
    "ANTT": "an ninh trật tự",
    "BHYT": "bảo hiểm y tế",
    "BHXH": "bảo hiểm xã hội",
    "CCCD": "căn cước công dân",
    "CMND": "chứng minh nhân dân",
    "THCS": "trung học cơ sở",
    "THPT": "trung học phổ thông",
    "HTX": "hợp tác xã",
    "CLB": "câu lạc bộ",
    "CNTT": "công nghệ thông tin",
    "PBGDPL": "phổ biến, giáo dục pháp luật",
    "GDPL": "giáo dục pháp luật",
    "TGPL": "trợ giúp pháp lý",
    "NSNN": "ngân sách nhà nước",
    "KT-XH": "kinh tế - xã hội",
    "ĐBSCL": "Đồng bằng sông Cửu Long",
    "BCĐ": "Ban chỉ đạo",
    "BCH": "Ban chấp hành",
    "HĐQT": "Hội đồng quản trị",
    "TNCS": "Thanh niên Cộng sản",
    "TP.HCM": "Thành phố Hồ Chí Minh",
    "TPHCM": "Thành phố Hồ Chí Minh",
    "TP.": "thành phố",
    "TP": "thành phố",
    "TW": "Trung ương",
    "VN": "Việt Nam",
    "SĐT": "số điện thoại",
    "ĐT": "điện thoại",
    "VNĐ": "đồng",
    "VND": "đồng",
    "Đ/c": "đồng chí",
    "đ/c": "đồng chí",
    "CP": "Chính phủ",
    "QH": "Quốc hội",
    "TTg": "Thủ tướng Chính phủ",
    "QĐ": "quyết định",
    "NĐ": "nghị định",
}

# Document types in codes such as 977/QĐ-TTg (the part before the issuer).
DOC_TYPES: dict[str, str] = {
    "QĐ": "quyết định", "NĐ": "nghị định", "NQ": "nghị quyết", "TT": "thông tư", "TTLT": "thông tư liên tịch",
    "CT": "chỉ thị", "KH": "kế hoạch", "CV": "công văn", "TB": "thông báo", "BC": "báo cáo",
    "HD": "hướng dẫn", "TTr": "tờ trình", "CĐ": "công điện", "L": "luật", "PL": "pháp lệnh",
}

# Issuers in document codes (the parts after the type).
ISSUERS: dict[str, str] = {
    "TTg": "Thủ tướng Chính phủ", "CP": "Chính phủ", "QH": "Quốc hội", "UBTVQH": "Ủy ban Thường vụ Quốc hội",
    "UBND": "Ủy ban nhân dân", "HĐND": "Hội đồng nhân dân", "BTP": "Bộ Tư pháp", "BCA": "Bộ Công an",
    "BTC": "Bộ Tài chính", "BYT": "Bộ Y tế", "BQP": "Bộ Quốc phòng", "BTTTT": "Bộ Thông tin và Truyền thông",
    "BGDĐT": "Bộ Giáo dục và Đào tạo", "BNNPTNT": "Bộ Nông nghiệp và Phát triển nông thôn",
    "BTNMT": "Bộ Tài nguyên và Môi trường", "BLĐTBXH": "Bộ Lao động - Thương binh và Xã hội",
    "VPCP": "Văn phòng Chính phủ", "TW": "Trung ương", "STP": "Sở Tư pháp", "VP": "Văn phòng",
    "MTTQ": "Mặt trận Tổ quốc", "TAND": "Tòa án nhân dân", "VKSND": "Viện kiểm sát nhân dân",
    "CA": "Công an", "BCĐ": "Ban chỉ đạo", "TU": "Tỉnh ủy", "HU": "Huyện ủy", "ĐU": "Đảng ủy",
}

# Vietnamese names of letters, for acronyms nobody has taught the dictionary yet.
LETTERS: dict[str, str] = {
    "A": "a", "Ă": "á", "Â": "ớ", "B": "bê", "C": "xê", "D": "dê", "Đ": "đê", "E": "e", "Ê": "ê",
    "F": "ép", "G": "giê", "H": "hát", "I": "i", "J": "gi", "K": "ca", "L": "e lờ", "M": "em mờ",
    "N": "en nờ", "O": "o", "Ô": "ô", "Ơ": "ơ", "P": "pê", "Q": "quy", "R": "e rờ", "S": "ét xì",
    "T": "tê", "U": "u", "Ư": "ư", "V": "vê", "W": "vê kép", "X": "ích xì", "Y": "i dài", "Z": "dét",
}

MAX_ENTRIES = 5000
_lock = threading.Lock()


def spell_letters(acronym: str) -> str:
    """Read an unknown acronym letter by letter: "BQL" -> "bê quy e lờ"."""
    return " ".join(LETTERS.get(c.upper(), c) for c in acronym if c.isalnum())


def dictionary_path(media_dir: Path) -> Path:
    """Where the officer-edited pronunciation dictionary lives."""
    return Path(media_dir) / "pronunciations.json"


def validate_dictionary(entries: dict[str, str]) -> dict[str, str]:
    """Check an officer's dictionary: non-empty one-line terms and readings, bounded size."""
    if len(entries) > MAX_ENTRIES:
        raise ValidationFailed(f"Từ điển phát âm tối đa {MAX_ENTRIES} mục.", field="entries")
    clean: dict[str, str] = {}
    for term, reading in entries.items():
        term, reading = str(term).strip(), str(reading).strip()
        if not term or not reading or "\n" in term or "\n" in reading:
            raise ValidationFailed(f"Mục từ điển không hợp lệ: {term!r}.", field="entries")
        if len(term) > 100 or len(reading) > 300:
            raise ValidationFailed(f"Mục từ điển quá dài: {term[:40]!r}.", field="entries")
        clean[term] = reading
    return clean


def load_dictionary(media_dir: Path) -> dict[str, str]:
    """The officer's dictionary (empty when none was saved yet)."""
    path = dictionary_path(media_dir)
    if not path.exists():
        return {}
    data = json.loads(path.read_text(encoding="utf-8"))
    if not isinstance(data, dict):
        return {}
    return {str(k): str(v) for k, v in data.items()}


def save_dictionary(media_dir: Path, entries: dict[str, str]) -> dict[str, str]:
    """Validate and atomically replace the officer's dictionary; returns what was stored."""
    clean = validate_dictionary(entries)
    path = dictionary_path(media_dir)
    path.parent.mkdir(parents=True, exist_ok=True)
    with _lock:
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".pron-", suffix=".json")
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            json.dump(dict(sorted(clean.items())), fh, ensure_ascii=False, indent=1)
        os.replace(tmp, path)
    return clean
