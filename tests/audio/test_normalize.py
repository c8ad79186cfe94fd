"""Vietnamese text normalisation for TTS."""

from __future__ import annotations

import re
from itertools import pairwise
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from broadcast.audio.text.normalize import MAX_NUMBER_DIGITS, MAX_TEXT_CHARS, bound_runs, normalize_text, normalize_vi
from broadcast.audio.text.numbers import decimal_words, digits_words, number_words, roman_to_int
from broadcast.audio.text.pronunciation import load_dictionary, save_dictionary
from broadcast.exceptions import ValidationFailed

SEED = Path("/work/shared/reference/seed/ca-mau-de-an-977-2024-plan.vi.txt")


@pytest.mark.parametrize(
    ("n", "words"),
    [
        (0, "không"),
        (10, "mười"),
        (15, "mười lăm"),
        (21, "hai mươi mốt"),
        (24, "hai mươi tư"),
        (105, "một trăm lẻ năm"),
        (977, "chín trăm bảy mươi bảy"),
        (1005, "một nghìn không trăm lẻ năm"),
        (2022, "hai nghìn không trăm hai mươi hai"),
        (1_500_000, "một triệu năm trăm nghìn"),
        (3_000_000_000, "ba tỷ"),
        (1_001_000_000, "một tỷ không trăm lẻ một triệu"),
    ],
)
def test_number_words(n: int, words: str) -> None:
    assert number_words(n) == words


def test_decimals_and_roman() -> None:
    assert decimal_words("2", "5") == "hai phẩy năm"
    assert decimal_words("0", "05") == "không phẩy không năm"
    assert roman_to_int("XIV") == 14
    assert roman_to_int("IIII") is None


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Mức phạt 1.500.000 đồng.", "Mức phạt một triệu năm trăm nghìn đồng."),
        ("Lệ phí 50.000đ/hộ", "Lệ phí năm mươi nghìn đồng một hộ"),
        ("nước dâng 2,5m", "nước dâng hai phẩy năm mét"),
        ("ngày 11/8/2022", "ngày mười một tháng tám năm hai nghìn không trăm hai mươi hai"),
        ("hạn chót 30-4-2025", "hạn chót ngày ba mươi tháng tư năm hai nghìn không trăm hai mươi lăm"),
        ("từ 1/9 đến 30/9", "từ ngày một tháng chín đến ngày ba mươi tháng chín"),
        ("trong tháng 4/2024", "trong tháng tư năm hai nghìn không trăm hai mươi tư"),
        ("uống 1/2 viên", "uống một phần hai viên"),
        ("họp lúc 07:30", "họp lúc bảy giờ ba mươi phút"),
        ("bắt đầu 17h, kết thúc 19h15", "bắt đầu mười bảy giờ, kết thúc mười chín giờ mười lăm phút"),
        ("gọi 0912 345 678", "gọi không chín một hai ba bốn năm sáu bảy tám"),
        ("số 0912345678", "số không chín một hai ba bốn năm sáu bảy tám"),
        ("tổng đài 1900 1234", "tổng đài một chín không không một hai ba bốn"),
        ("gọi 113 ngay", "gọi một một ba ngay"),
        ("Điều 5 khoản 2", "Điều năm khoản hai"),
        (
            "Quyết định số 977/QĐ-TTg",
            "Quyết định số chín trăm bảy mươi bảy của Thủ tướng Chính phủ",
        ),
        (
            "Nghị định 91/2020/NĐ-CP",
            "Nghị định chín mươi mốt năm hai nghìn không trăm hai mươi của Chính phủ",
        ),
        (
            "theo văn bản 12/CT-UBND",
            "theo văn bản mười hai chỉ thị của Ủy ban nhân dân",
        ),
        (
            "Luật số 45/2019/QH14",
            "Luật số bốn mươi lăm năm hai nghìn không trăm mười chín của Quốc hội khóa mười bốn",
        ),
        ("UBND xã", "Ủy ban nhân dân xã"),
        (
            "HĐND, MTTQ, TAND, VKSND",
            "Hội đồng nhân dân, Mặt trận Tổ quốc, Tòa án nhân dân, Viện kiểm sát nhân dân",
        ),
        ("CA xã phối hợp", "Công an xã phối hợp"),
        ("THÔNG BÁO KHẨN", "thông báo khẩn"),
        ("BQL ấp", "bê quy e lờ ấp"),
        ("Quốc hội khóa XV", "Quốc hội khóa mười lăm"),
        ("đạt 50% số hộ", "đạt năm mươi phần trăm số hộ"),
        (
            "giai đoạn 2023 – 2030",
            "giai đoạn hai nghìn không trăm hai mươi ba đến hai nghìn không trăm ba mươi",
        ),
        ("đúng quy định./.", "đúng quy định."),
        ("(nếu có)", "nếu có"),
    ],
)
def test_normalize_vi(text: str, expected: str) -> None:
    assert normalize_vi(text) == expected


def test_issuer_named_once_when_the_sentence_names_it() -> None:
    out = normalize_vi("Quyết định số 977/QĐ-TTg ngày 11/8/2022 của Thủ tướng Chính phủ")
    assert out.count("Thủ tướng Chính phủ") == 1
    assert out.startswith("Quyết định số chín trăm bảy mươi bảy ngày mười một tháng tám")


def test_dictionary_overrides_rules_and_is_case_aware() -> None:
    dictionary = {"COVID-19": "cô vít mười chín", "zalo": "da lô", "CA": "cà"}
    out = normalize_vi("Phòng COVID-19, liên hệ Zalo của CA xã", dictionary)
    assert out == "Phòng cô vít mười chín, liên hệ da lô của cà xã"


def test_dictionary_storage_roundtrip(tmp_path: Path) -> None:
    assert load_dictionary(tmp_path) == {}
    stored = save_dictionary(tmp_path, {" Zalo ": "da lô"})
    assert stored == {"Zalo": "da lô"}
    assert load_dictionary(tmp_path) == {"Zalo": "da lô"}
    with pytest.raises(ValidationFailed):
        save_dictionary(tmp_path, {"x": ""})


def test_seed_plan_leaves_nothing_an_engine_would_misread() -> None:
    text = normalize_vi(SEED.read_text(encoding="utf-8"))
    assert not re.search(r"\d", text), "digits left"
    assert "/" not in text and "%" not in text
    assert not re.findall(r"\b[A-ZĐ]{2,}\b", text), "abbreviations left"
    assert ("Quyết định số chín trăm bảy mươi bảy ngày mười một tháng tám "
            "năm hai nghìn không trăm hai mươi hai") in text
    assert "Kế hoạch số một trăm bảy mươi sáu" in text
    assert "Chủ tịch Ủy ban nhân dân tỉnh" in text
    assert "từ năm hai nghìn không trăm hai mươi ba đến hai nghìn không trăm ba mươi" in text
    assert "xác định năm nhóm nhiệm vụ" in text


def test_seed_sentences_keep_their_punctuation_for_pauses() -> None:
    sentence = ("Tăng cường công tác phối hợp chặt chẽ giữa các cơ quan, đơn vị, địa phương; "
                "qua đó, hỗ trợ người dân tiếp cận pháp luật.")
    assert normalize_vi(sentence) == sentence


def test_other_languages_are_only_tidied() -> None:
    assert normalize_text("  សួស្តី   (ភូមិ)  ", "km") == "សួស្តី, ភូមិ"


# ---- hostile input: long runs are read in one pass, and the length is capped -------------------------

def test_twenty_thousand_digits_are_read_digit_by_digit() -> None:
    digits = "0123456789" * 2000
    assert normalize_vi(digits) == digits_words(digits)
    assert normalize_text(digits, "vi").count(" ") == 20_000 - 1


@settings(max_examples=60, deadline=None)
@given(st.text(alphabet="0123456789", min_size=MAX_NUMBER_DIGITS + 1, max_size=600))
def test_a_digit_run_longer_than_a_number_is_read_digit_by_digit(digits: str) -> None:
    assert normalize_vi(f"Mã hồ sơ {digits} đã nhận.") == f"Mã hồ sơ {digits_words(digits)} đã nhận."
    assert normalize_vi(f"Tăng {digits}% trong năm") == f"Tăng {digits_words(digits)} phần trăm trong năm"


@settings(max_examples=200, deadline=None)
@given(st.text(alphabet=st.sampled_from(list("0123456789 \t\n\r\u00a0\u2003.,/:-%aĐ")), max_size=400))
def test_after_the_first_pass_no_rule_meets_a_long_run(text: str) -> None:
    """What keeps every rule's work per position bounded, so the whole pass is linear in the text."""
    bounded = bound_runs(text)
    assert max((len(r) for r in re.findall(r"\d+", bounded)), default=0) <= MAX_NUMBER_DIGITS
    assert max((len(r) for r in re.findall(r"\s+", bounded)), default=0) <= 2


HOSTILE_SHAPES = {
    "digits": "7" * 1000, "thousands": "1" + ".234" * 250, "blanks": "a" + " " * 1000 + "b",
    "lines": "a" + "\n" * 1000 + "b", "dates": "ngày 1/1/2020 " * 70, "fractions": "1/2 " * 250,
    "quotes": "«a»" * 300, "brackets": "(a)" * 300, "dashes": "1 - " * 250,
}


@pytest.mark.parametrize("shape", list(HOSTILE_SHAPES))
def test_output_grows_linearly_with_a_hostile_input(shape: str) -> None:
    """Doubling a hostile input at most doubles what is read out (the bench times the work itself)."""
    unit = HOSTILE_SHAPES[shape]
    sizes = [len(normalize_vi(unit * k)) for k in (1, 2, 4, 8)]
    assert all(0 < big <= 2 * small + 16 for small, big in pairwise(sizes)), sizes


def test_text_longer_than_the_cap_is_refused_naming_the_field() -> None:
    assert normalize_text("1" * MAX_TEXT_CHARS, "vi")
    with pytest.raises(ValidationFailed) as refused:
        normalize_text("1" * (MAX_TEXT_CHARS + 1), "vi")
    assert refused.value.field == "text" and "tối đa 20000" in refused.value.message
