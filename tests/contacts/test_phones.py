"""Vietnamese mobile number normalisation: every spelling officers use maps to one E.164 number."""

from __future__ import annotations

import re
from decimal import Decimal

import phonenumbers
import pytest
from hypothesis import assume, example, given
from hypothesis import strategies as st
from phonenumbers import PhoneNumberType

from broadcast.phones import (
    INVALID,
    MISSING,
    MOBILE_PATTERN,
    NOT_VN_MOBILE,
    OLD_PREFIXES,
    SCIENTIFIC,
    PhoneError,
    mask_phone,
    normalize_vn_phone,
)

E164 = re.compile(r"\+84[0-9]{9}")


def is_vn_mobile(e164: str) -> bool:
    """The oracle: phonenumbers' own full validation."""
    number = phonenumbers.parse(e164)
    return (
        phonenumbers.region_code_for_number(number) == "VN"
        and phonenumbers.is_valid_number(number)
        and phonenumbers.number_type(number) in (PhoneNumberType.MOBILE, PhoneNumberType.FIXED_LINE_OR_MOBILE)
    )


@pytest.mark.parametrize(
    "raw",
    [
        "0912345678", "091 234 5678", "0912.345.678", "091-234-5678", "(091) 234 5678", "(+84) 912 345 678",
        "+84912345678", "+84 91 234 5678", "84912345678", "0084912345678", "00 84 912 345 678",
        "+84 (0) 912 345 678", "912345678", 912345678, 912345678.0, "912345678.0", Decimal("912345678"),
        "'0912345678", " 0912345678 ", "0912\u00a0345\u00a0678", "9.12345678E+08", "0912 – 345 – 678",
    ],
)
def test_format_variants_normalise_to_one_number(raw: object) -> None:
    assert normalize_vn_phone(raw) == "+84912345678"


@pytest.mark.parametrize(("old", "new"), sorted(OLD_PREFIXES.items()))
def test_every_old_eleven_digit_prefix_is_rewritten(old: str, new: str) -> None:
    assert normalize_vn_phone(f"0{old}1234567") == f"+84{new}1234567"
    assert normalize_vn_phone(f"0{old} 123 4567") == f"+84{new}1234567"
    assert normalize_vn_phone(f"+84{old}1234567") == f"+84{new}1234567"
    assert normalize_vn_phone(int(f"{old}1234567")) == f"+84{new}1234567"  # Excel dropped the 0


def test_old_prefix_table_matches_the_reference() -> None:
    assert OLD_PREFIXES["162"] == "32" and OLD_PREFIXES["169"] == "39"
    assert (OLD_PREFIXES["120"], OLD_PREFIXES["121"], OLD_PREFIXES["122"]) == ("70", "79", "77")
    assert (OLD_PREFIXES["126"], OLD_PREFIXES["128"]) == ("76", "78")
    assert (OLD_PREFIXES["123"], OLD_PREFIXES["124"], OLD_PREFIXES["125"]) == ("83", "84", "85")
    assert (OLD_PREFIXES["127"], OLD_PREFIXES["129"]) == ("81", "82")
    assert (OLD_PREFIXES["186"], OLD_PREFIXES["188"], OLD_PREFIXES["199"]) == ("56", "58", "59")
    assert len(OLD_PREFIXES) == 21


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        (None, MISSING),
        ("", MISSING),
        ("   ", MISSING),
        ("02903123456", NOT_VN_MOBILE),  # Cà Mau landline
        ("0290 3 123 456", NOT_VN_MOBILE),
        ("+12025550100", NOT_VN_MOBILE),
        ("0044 20 7946 0958", NOT_VN_MOBILE),
        ("12345", INVALID),
        ("0912", INVALID),
        ("09123456789", INVALID),  # one digit too many
        ("0551234567", INVALID),  # 055x outside the allocated 0559 range
        ("01301234567", INVALID),  # 013x was never a mobile prefix
        ("không có", INVALID),
        ("0912abc678", INVALID),
        ("\u0660\u0669\u0661\u0662\u0663\u0664\u0665\u0666\u0667\u0668", INVALID),  # Arabic-Indic digits
        ("9.12346E+08", SCIENTIFIC),  # Excel rounded the number away
        (912345678.5, INVALID),
        (-912345678, INVALID),
        (True, INVALID),
        (float("nan"), INVALID),
        ([], INVALID),
    ],
)
def test_unusable_values_raise_phone_error_with_reason(raw: object, reason: str) -> None:
    with pytest.raises(PhoneError) as caught:
        normalize_vn_phone(raw)
    assert caught.value.reason == reason
    assert str(caught.value) == reason
    assert isinstance(caught.value, ValueError)


def test_mask_phone() -> None:
    assert mask_phone("+84912345678") == "091****678"
    assert mask_phone("+84321234567") == "032****567"
    assert mask_phone(None) == ""
    assert mask_phone("") == ""


# ---- properties --------------------------------------------------------------------------------

mobile_nsn = st.from_regex(re.compile(MOBILE_PATTERN, re.ASCII), fullmatch=True)
separators = st.sampled_from(["", " ", ".", "-", "  "])


@st.composite
def spellings(draw: st.DrawFn, nsn: str) -> object:
    """One of the ways an officer's spreadsheet may hold the number."""
    sep = draw(separators)
    grouped = sep.join([nsn[:2], nsn[2:5], nsn[5:]])
    return draw(
        st.sampled_from(
            [
                "0" + nsn, "0" + grouped, "+84" + nsn, f"+84 {grouped}", "84" + nsn, "0084" + nsn,
                f"(0{nsn[:2]}) {nsn[2:5]}{sep}{nsn[5:]}", f"+84 (0) {grouped}", nsn, int(nsn), float(nsn),
                f"{nsn}.0", f" 0{grouped} ",
            ]
        )
    )


@given(data=st.data(), nsn=mobile_nsn)
def test_every_spelling_of_a_valid_mobile_maps_to_the_same_e164(data: st.DataObject, nsn: str) -> None:
    assert is_vn_mobile("+84" + nsn)  # the pattern is phonenumbers' own: it agrees with full validation
    assert normalize_vn_phone(data.draw(spellings(nsn))) == "+84" + nsn


@given(old=st.sampled_from(sorted(OLD_PREFIXES)), rest=st.from_regex(r"[0-9]{7}", fullmatch=True))
def test_old_numbers_keep_their_last_seven_digits(old: str, rest: str) -> None:
    expected = f"+84{OLD_PREFIXES[old]}{rest}"
    assume(is_vn_mobile(expected))
    assert normalize_vn_phone(f"0{old}{rest}") == expected


@given(st.one_of(st.text(max_size=20), st.from_regex(r"\+?[0-9 .()-]{0,16}", fullmatch=True)))
def test_anything_either_normalises_to_a_valid_mobile_or_raises_phone_error(raw: str) -> None:
    try:
        result = normalize_vn_phone(raw)
    except PhoneError as exc:
        assert exc.reason in (MISSING, INVALID, NOT_VN_MOBILE, SCIENTIFIC)
        return
    assert E164.fullmatch(result)
    assert is_vn_mobile(result)
    assert normalize_vn_phone(result) == result  # idempotent


@example("002100000")  # phonenumbers cannot parse it (an international prefix): ours must refuse it too
@given(st.from_regex(r"[0-9]{9,10}", fullmatch=True))
def test_national_numbers_agree_with_phonenumbers(digits: str) -> None:
    """For plain digit strings without an old prefix, the fast path agrees with phonenumbers.parse."""
    assume(not (len(digits) == 10 and digits[0] == "1" and digits[:3] in OLD_PREFIXES))
    national = digits if digits.startswith("0") else "0" + digits
    number: phonenumbers.PhoneNumber | None
    try:
        parsed = phonenumbers.parse(national, "VN")
    except phonenumbers.NumberParseException:  # e.g. "00…" is read as an international prefix
        number, expected_ok = None, False
    else:
        number = parsed
        expected_ok = phonenumbers.is_valid_number(parsed) and phonenumbers.number_type(parsed) in (
            PhoneNumberType.MOBILE, PhoneNumberType.FIXED_LINE_OR_MOBILE
        )
    try:
        result = normalize_vn_phone(digits)
    except PhoneError:
        assert not expected_ok
    else:
        assert expected_ok and number is not None
        assert result == phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)
