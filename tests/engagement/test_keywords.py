"""Keyword classification (Vietnamese and English, with and without diacritics), short codes, bots."""

from __future__ import annotations

import pytest

from broadcast.config import load_settings
from broadcast.engagement import links
from broadcast.engagement.keywords import DEFAULT_KEYWORDS, Classification, classify, fold

C = Classification


@pytest.mark.parametrize(("body", "kind"), [
    ("TC", C.opt_out), ("tc", C.opt_out), (" Tc. ", C.opt_out),
    ("HỦY", C.opt_out), ("huỷ", C.opt_out), ("Huy", C.opt_out), ("HUY!", C.opt_out),
    ("DỪNG", C.opt_out), ("dừng", C.opt_out), ("dung", C.opt_out), ("Từ chối", C.opt_out),
    ("STOP", C.opt_out), ("stop", C.opt_out), ("Unsubscribe", C.opt_out), ("quit", C.opt_out),
    ("STOPALL", C.opt_out), ("cancel", C.opt_out), ("END", C.opt_out), ("revoke", C.opt_out), ("OPTOUT", C.opt_out),
    ("BATDAU", C.opt_in), ("Bắt đầu", C.opt_in), ("bat dau", C.opt_in), ("BẮTĐẦU", C.opt_in),
    ("start", C.opt_in), ("YES", C.opt_in), ("unstop", C.opt_in),
    ("TROGIUP", C.help), ("Trợ giúp", C.help), ("tro giup", C.help), ("TRỢGIÚP", C.help),
    ("help", C.help), ("HELP", C.help), ("info", C.help),
    ("Đã phát ABC234", C.airing), ("DAPHAT abc234", C.airing), ("daphat XYZ789", C.airing),
    ("Tôi muốn hỏi về thủ tục sang tên sổ đỏ", C.question), ("stop sending me this please", C.question),
    ("Huỷ giúp tôi hợp đồng đất", C.question), ("", C.question),
])
def test_classification_is_accent_and_case_insensitive(body: str, kind: Classification) -> None:
    assert classify(body, dict(DEFAULT_KEYWORDS), rating_allowed=False).kind == kind


@pytest.mark.parametrize("body", ["5", "1", " 3 ", "4 sao", "5/5", "2 điểm"])
def test_ratings_only_after_a_campaign_that_asked(body: str) -> None:
    parsed = classify(body, dict(DEFAULT_KEYWORDS), rating_allowed=True)
    assert parsed.kind == C.rating and parsed.value == body.strip()[0]
    assert classify(body, dict(DEFAULT_KEYWORDS), rating_allowed=False).kind == C.question


@pytest.mark.parametrize("body", ["0", "6", "10", "55"])
def test_out_of_range_ratings_are_questions(body: str) -> None:
    assert classify(body, dict(DEFAULT_KEYWORDS), rating_allowed=True).kind == C.question


def test_fold() -> None:
    assert fold("Đường  dây   nóng!!") == "DUONG DAY NONG"
    assert fold("Hủy") == fold("HUỶ") == fold("huy") == "HUY"


def test_airing_code_is_extracted() -> None:
    parsed = classify("đã phát  k7m2pq", dict(DEFAULT_KEYWORDS), rating_allowed=False)
    assert parsed.value == "K7M2PQ"


def test_short_codes_round_trip_and_reject_forgeries() -> None:
    settings = load_settings(_env_file=None)
    other = load_settings(secret_key="another-secret-key-that-is-long-enough", _env_file=None)
    for delivery_id in (1, 61, 62, 12345, 9_999_999, 2**40):
        code = links.encode(settings, delivery_id)
        assert links.decode(settings, code) == delivery_id
        assert links.decode(other, code) is None
        assert code.isalnum()
    code = links.encode(settings, 9_999_999)
    assert len(code) <= 9
    tampered = links.b62(9_999_998) + code[-links.TAG_LENGTH:]
    assert links.decode(settings, tampered) is None
    assert links.decode(settings, "abc") is None and links.decode(settings, "!!!!!!!!") is None
    assert len(links.short_link(settings, 9_999_999)) == len(settings.public_base_url) + 3 + len(code)


@pytest.mark.parametrize("agent", [
    "facebookexternalhit/1.1 (+http://www.facebook.com/externalhit_uatext.php)", "Zalo", "ZaloPC-win32-24v",
    "WhatsApp/2.23.20.0", "TelegramBot (like TwitterBot)", "Slackbot-LinkExpanding 1.0", "Twitterbot/1.0",
    "Googlebot/2.1", "Mozilla/5.0 (compatible; bingbot/2.0)", "", None, "curl/8.0",
])
def test_preview_agents_are_bots(agent: str | None) -> None:
    assert links.is_bot(agent)


def test_phone_browsers_are_people() -> None:
    assert not links.is_bot("Mozilla/5.0 (Linux; Android 10; SM-A105F) AppleWebKit/537.36 Chrome/120 Mobile Safari")
    assert not links.is_bot("Mozilla/5.0 (iPhone; CPU iPhone OS 16_0 like Mac OS X) AppleWebKit/605.1.15 Safari")
