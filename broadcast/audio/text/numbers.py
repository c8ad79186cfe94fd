"""Vietnamese number reading: cardinals, decimals, digit-by-digit and Roman numerals."""

from __future__ import annotations

DIGITS = ("không", "một", "hai", "ba", "bốn", "năm", "sáu", "bảy", "tám", "chín")
_ROMAN = {"I": 1, "V": 5, "X": 10, "L": 50, "C": 100, "D": 500, "M": 1000}


def _tens_units(n: int, *, after_hundred: bool) -> list[str]:
    """Read 0..99; `after_hundred` adds "lẻ" before a lone unit (105 -> một trăm lẻ năm)."""
    tens, units = divmod(n, 10)
    if tens == 0:
        if units == 0:
            return []
        return (["lẻ"] if after_hundred else []) + [DIGITS[units]]
    words = ["mười"] if tens == 1 else [DIGITS[tens], "mươi"]
    if units == 0:
        return words
    if units == 5:
        words.append("lăm")
    elif units == 1 and tens >= 2:
        words.append("mốt")
    elif units == 4 and tens >= 2:
        words.append("tư")
    else:
        words.append(DIGITS[units])
    return words


def _triple(n: int, *, full: bool) -> list[str]:
    """Read 0..999; `full` reads a zero hundreds digit ("không trăm") inside a larger number."""
    hundreds, rest = divmod(n, 100)
    words: list[str] = []
    if hundreds or full:
        words = [DIGITS[hundreds], "trăm"]
    words += _tens_units(rest, after_hundred=bool(words))
    return words


def number_words(n: int, *, thousand: str = "nghìn") -> str:
    """Read an integer as an announcer does: 1500000 -> một triệu năm trăm nghìn."""
    if n < 0:
        return "âm " + number_words(-n, thousand=thousand)
    if n == 0:
        return DIGITS[0]
    billions, rest = divmod(n, 10**9)
    if billions:
        head = number_words(billions, thousand=thousand) + " tỷ"
        if rest == 0:
            return head
        return head + " " + _below_billion(rest, thousand, full=True)
    return _below_billion(rest, thousand, full=False)


def _below_billion(n: int, thousand: str, *, full: bool) -> str:
    scales = ("", thousand, "triệu")
    groups = [(n // 10 ** (3 * i)) % 1000 for i in range(3)]
    words: list[str] = []
    started = full
    for i in (2, 1, 0):
        group = groups[i]
        if group == 0:
            continue
        words += _triple(group, full=started)
        if scales[i]:
            words.append(scales[i])
        started = True
    return " ".join(words)


def digits_words(digits: str) -> str:
    """Read a string of digits one by one (phone numbers, codes): 0912 -> không chín một hai."""
    return " ".join(DIGITS[int(d)] for d in digits if d.isdigit())


def decimal_words(integer: str, fraction: str, *, thousand: str = "nghìn") -> str:
    """Read 2,5 as "hai phẩy năm"; a fraction with a leading zero is read digit by digit."""
    head = number_words(int(integer), thousand=thousand)
    if fraction.startswith("0") or len(fraction) > 3:
        tail = digits_words(fraction)
    else:
        tail = number_words(int(fraction), thousand=thousand)
    return f"{head} phẩy {tail}"


def roman_to_int(text: str) -> int | None:
    """Value of a well-formed upper-case Roman numeral up to 3999, else None."""
    if not text or any(c not in _ROMAN for c in text):
        return None
    total = 0
    for i, c in enumerate(text):
        value = _ROMAN[c]
        if i + 1 < len(text) and _ROMAN[text[i + 1]] > value:
            total -= value
        else:
            total += value
    if not 0 < total < 4000 or int_to_roman(total) != text:
        return None
    return total


def int_to_roman(n: int) -> str:
    """Canonical Roman numeral for 1..3999 (used to reject malformed ones like IIII)."""
    table = [(1000, "M"), (900, "CM"), (500, "D"), (400, "CD"), (100, "C"), (90, "XC"),
             (50, "L"), (40, "XL"), (10, "X"), (9, "IX"), (5, "V"), (4, "IV"), (1, "I")]
    out = []
    for value, symbol in table:
        while n >= value:
            out.append(symbol)
            n -= value
    return "".join(out)


__all__ = ["DIGITS", "decimal_words", "digits_words", "int_to_roman", "number_words", "roman_to_int"]
