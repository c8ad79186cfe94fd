"""SMS encoding, segment counting, cost and Vietnamese diacritics stripping."""

from __future__ import annotations

import unicodedata

import pytest
from hypothesis import given
from hypothesis import strategies as st

from broadcast.exceptions import ValidationFailed
from broadcast.outbox.segments import (
    GSM_BASIC,
    GSM_EXTENSION,
    compare,
    estimate,
    is_gsm7,
    non_gsm_characters,
    strip_diacritics,
)

# Written out by hand (the way a Vietnamese keyboard table lists them), independent of the module's table.
VI_LOWER = "aàáảãạăằắẳẵặâầấẩẫậeèéẻẽẹêềếểễệiìíỉĩịoòóỏõọôồốổỗộơờớởỡợuùúủũụưừứửữựyỳýỷỹỵđ"
VI_LETTERS = VI_LOWER + VI_LOWER.upper()
PUNCTUATION = " .,;:!?-()/%+=*#&@'\"\n"
TYPOGRAPHIC = "“”‘’–—…•\u00a0\u2009\u202f"

# A 172-character commune notice (the worked example in the domain research).
NOTICE = (
    "UBND xã Tân Thành thông báo: từ ngày 01/7/2025, người dân đến Bộ phận một cửa để làm thủ tục "
    "chứng thực, hộ tịch. Mọi thắc mắc xin gọi số 0290.3831234. Trân trọng cảm ơn ạ!"
)


def reference_gsm_parts(text: str) -> list[list[str]]:
    """Independent splitter: expand to septets (ESC + code for extension chars), cut at 153 / 160."""
    septets: list[str] = []
    for c in text:
        septets.extend(["ESC", c] if c in GSM_EXTENSION else [c])
    if len(septets) <= 160:
        return [septets] if septets else []
    parts: list[list[str]] = []
    while septets:
        cut = 153
        if len(septets) > cut and septets[cut - 1] == "ESC":
            cut -= 1  # an escape must stay with the character it escapes
        parts.append(septets[:cut])
        septets = septets[cut:]
    return parts


def reference_ucs2_parts(text: str) -> list[bytes]:
    """Independent splitter on the UTF-16 byte stream, never ending a part on a high surrogate."""
    data = text.encode("utf-16-be")
    if len(data) <= 140:
        return [data] if data else []
    parts: list[bytes] = []
    while data:
        cut = 134
        if len(data) > cut and 0xD800 <= int.from_bytes(data[cut - 2 : cut], "big") <= 0xDBFF:
            cut -= 2
        parts.append(data[:cut])
        data = data[cut:]
    return parts


def test_gsm_tables_match_03_38() -> None:
    assert len(GSM_BASIC) == 127  # 128 codes minus ESC
    assert frozenset("\f^{}\\[~]|€") == GSM_EXTENSION
    for char in "éèùìòàÉÇäöñüÄÖÑÜØøÅåÆæßΔΦΓΛΩΠΨΣΘΞ@£$¥¤§¡¿_\n\r":
        assert char in GSM_BASIC, char
    for char in "áăâêôơưđÀÈÌÒÙçêõ`\t":
        assert char not in GSM_BASIC and char not in GSM_EXTENSION, char


@pytest.mark.parametrize(
    ("text", "encoding", "segments", "per_segment"),
    [
        ("a" * 160, "GSM-7", 1, 160),
        ("a" * 161, "GSM-7", 2, 153),
        ("a" * 306, "GSM-7", 2, 153),
        ("a" * 307, "GSM-7", 3, 153),
        ("ă" * 70, "UCS-2", 1, 70),
        ("ă" * 71, "UCS-2", 2, 67),
        ("ă" * 134, "UCS-2", 2, 67),
        ("ă" * 135, "UCS-2", 3, 67),
        ("é" * 160, "GSM-7", 1, 160),  # é is in the basic set
        ("a" * 159 + "ơ", "UCS-2", 3, 67),  # one non-GSM letter switches everything
    ],
)
def test_known_boundaries(text: str, encoding: str, segments: int, per_segment: int) -> None:
    est = estimate(text)
    assert (est.encoding, est.segments, est.units_per_segment) == (encoding, segments, per_segment)


def test_empty_text_is_zero_segments() -> None:
    est = estimate("", price_per_segment=850)
    assert (est.encoding, est.segments, est.characters, est.cost) == ("GSM-7", 0, 0, 0)


def test_extension_characters_count_double() -> None:
    est = estimate("€" * 80)
    assert (est.characters, est.units, est.segments) == (80, 160, 1)
    assert estimate("€" * 80 + "a").segments == 2
    assert estimate("{[|]}^~\\\f").units == 18


def test_extension_character_never_split_across_parts() -> None:
    # 306 septets would fit 2 x 153, but the € sits on the boundary and moves to part 2.
    text = "a" * 152 + "€" + "a" * 152
    assert estimate(text).units == 306
    assert estimate(text).segments == 3
    assert estimate("a" * 151 + "€" + "a" * 153).segments == 2


def test_emoji_take_two_units_and_are_never_split() -> None:
    assert estimate("😀" * 35).segments == 1
    assert estimate("😀" * 35).characters == 70
    assert estimate("😀" * 35 + "a").segments == 2
    text = "a" * 66 + "😀" + "a" * 66  # 134 units, but the pair would straddle the 67 boundary
    assert (estimate(text).characters, estimate(text).segments) == (134, 3)


def test_remaining_units_in_last_segment() -> None:
    assert estimate("a" * 10).remaining == 150
    assert estimate("a" * 200).remaining == 153 - 47
    assert estimate("ê" * 70).remaining == 0


def test_vietnamese_notice_three_parts_versus_two() -> None:
    assert len(NOTICE) == 172
    original = estimate(NOTICE, price_per_segment=850)
    stripped = estimate(NOTICE, strip=True, price_per_segment=850)
    assert (original.encoding, original.segments, original.cost) == ("UCS-2", 3, 2550)
    assert (stripped.encoding, stripped.segments, stripped.cost) == ("GSM-7", 2, 1700)
    assert stripped.text.startswith("UBND xa Tan Thanh thong bao: tu ngay 01/7/2025, nguoi dan den Bo phan")
    result = compare(NOTICE, 850)
    assert result["original"]["segments"] == 3 and result["stripped"]["segments"] == 2
    assert result["segments_saved"] == 1 and result["cost_saved"] == 850
    assert result["changed"] is True and result["stripped_non_gsm"] == []


def test_strip_all_tones_and_letters() -> None:
    assert strip_diacritics("aàáảãạ ăằắẳẵặ âầấẩẫậ") == "aaaaaa aaaaaa aaaaaa"
    assert strip_diacritics("ƯỚC MƠ Đường đi ÊÔ Ỹ") == "UOC MO Duong di EO Y"
    expected = "a" * 18 + "e" * 12 + "i" * 6 + "o" * 18 + "u" * 12 + "y" * 6 + "d"
    assert strip_diacritics(VI_LOWER) == expected
    assert strip_diacritics(VI_LOWER.upper()) == expected.upper()


def test_strip_handles_decomposed_input() -> None:
    text = "Người dân Cà Mau đến xã"
    assert strip_diacritics(unicodedata.normalize("NFD", text)) == "Nguoi dan Ca Mau den xa"


def test_strip_typography() -> None:
    assert strip_diacritics("“Luật” ‘mới’ – 2025 — ok… •\u00a0mục\u2009a\u200b") == (
        "\"Luat\" 'moi' - 2025 - ok... - muc a"
    )
    assert strip_diacritics("50.000₫") == "50.000d"


def test_strip_leaves_characters_without_gsm_equivalent() -> None:
    assert strip_diacritics("Chúc mừng 😀") == "Chuc mung 😀"
    assert strip_diacritics("ភាសាខ្មែរ") == "ភាសាខ្មែរ"  # Khmer combining signs are not Latin diacritics
    assert strip_diacritics("Müller François") == "Müller Francois"  # ü is GSM-7, ç is not
    assert non_gsm_characters(strip_diacritics("Chúc mừng 😀 😀")) == ["😀"]


def test_ellipsis_expansion_never_costs_an_extra_part() -> None:
    assert estimate("…" * 70).segments == 1
    assert estimate("…" * 70, strip=True).segments == 1  # "..." x 70 would be 210 septets, 2 parts


def test_ellipsis_kept_when_text_stays_ucs2() -> None:
    est = estimate("Thông báo… 😀", strip=True)
    assert est.text == "Thong bao… 😀" and est.encoding == "UCS-2"
    assert estimate("Thông báo…", strip=True).text == "Thong bao..."


def test_negative_price_rejected() -> None:
    with pytest.raises(ValidationFailed) as exc:
        estimate("abc", price_per_segment=-1)
    assert exc.value.field == "price_per_segment"


vietnamese_text = st.text(alphabet=st.sampled_from(VI_LETTERS + "0123456789" + PUNCTUATION + TYPOGRAPHIC))
mixed_chars = st.one_of(
    st.sampled_from(VI_LETTERS + PUNCTUATION + TYPOGRAPHIC + "€{}[]^~|\\\f😀👍🇻🇳"),
    st.characters(codec="utf-8"),
)
# Runs of repeated characters reach the 70/153/160 boundaries far more often than plain random text.
mixed_text = st.one_of(
    st.text(alphabet=mixed_chars, max_size=500),
    st.lists(st.tuples(mixed_chars, st.integers(1, 200)), max_size=5).map(
        lambda runs: "".join(char * count for char, count in runs)
    ),
)


@given(vietnamese_text, st.sampled_from(["NFC", "NFD"]))
def test_stripped_vietnamese_is_gsm7(text: str, form: str) -> None:
    stripped = strip_diacritics(unicodedata.normalize(form, text))  # type: ignore[arg-type]
    assert is_gsm7(stripped)
    assert stripped.isascii()
    assert estimate(text, strip=True).encoding == "GSM-7"


@given(mixed_text, st.integers(min_value=0), st.integers(min_value=0))
def test_segments_monotonic_in_length(text: str, i: int, j: int) -> None:
    i, j = sorted((i % (len(text) + 1), j % (len(text) + 1)))
    assert estimate(text[:i]).segments <= estimate(text[:j]).segments


@given(mixed_text)
def test_stripping_never_increases_segments(text: str) -> None:
    assert estimate(text, strip=True).segments <= estimate(text).segments


@given(mixed_text, st.floats(min_value=0, max_value=10_000))
def test_segments_match_reference_splitter(text: str, price: float) -> None:
    est = estimate(text, price_per_segment=price)
    parts = reference_gsm_parts(text) if is_gsm7(text) else reference_ucs2_parts(text)
    assert est.segments == len(parts)
    assert est.encoding == ("GSM-7" if is_gsm7(text) else "UCS-2")
    assert est.cost == est.segments * price
    assert est.units <= max(est.segments, 1) * est.units_per_segment
