"""The Twilio simulator, driven through the official twilio SDK and over raw HTTP on loopback."""

from __future__ import annotations

import json
import re
import signal
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import httpx
import pytest
from openapi_core import OpenAPI
from openapi_core.testing import MockRequest, MockResponse
from twilio.base.exceptions import TwilioRestException
from twilio.request_validator import RequestValidator
from twilio.rest import Client

from broadcast.channels.twilio.client import make_twilio_client, retry_after_seconds
from broadcast.config import Settings
from broadcast.simulators.twilio import TwilioSimulator, count_segments
from broadcast.simulators.twilio.process import SimulatorControl, SimulatorProcess
from broadcast.simulators.twilio.state import RecordedRequest
from broadcast.simulators.twilio.testing import SIM_ACCOUNT_SID, SIM_AUTH_TOKEN, CallbackSink
from tests.support.http import loopback

TO = "+84912345678"
FROM = "+15005550006"
SID = re.compile(r"^SM[0-9a-f]{32}$")
SPEC_SUBSET = Path(__file__).with_name("twilio_api_v2010_messages.json")
FULL_SPEC = Path("/work/shared/reference/twilio/twilio_api_v2010.json")


@pytest.fixture
def client(twilio_simulator: TwilioSimulator) -> Client:
    return make_twilio_client(twilio_simulator.account_sid, twilio_simulator.auth_token, twilio_simulator.base_url)


def _statuses(sink: CallbackSink) -> list[str]:
    return [c.params["MessageStatus"] for c in sink.received]


# --- REST: create, fetch, list ---------------------------------------------------------------------


def test_create_returns_twilio_message(twilio_simulator: TwilioSimulator, client: Client) -> None:
    message = client.messages.create(to=TO, from_="CAMAU-PBGDPL", body="Thông báo: họp tổ dân phố lúc 8 giờ")
    assert SID.match(message.sid)
    assert (message.status, message.to, message.from_, message.direction) == ("queued", TO, "CAMAU-PBGDPL",
                                                                              "outbound-api")
    assert message.num_segments == "1" and message.num_media == "0"
    assert message.price is None and message.error_code is None
    assert message.account_sid == SIM_ACCOUNT_SID and message.api_version == "2010-04-01"
    assert message.uri == f"/2010-04-01/Accounts/{SIM_ACCOUNT_SID}/Messages/{message.sid}.json"
    assert message.subresource_uris["media"].endswith(f"/Messages/{message.sid}/Media.json")
    assert message.date_created is not None and abs(message.date_created - datetime.now(UTC)) < timedelta(
        seconds=30)
    recorded = twilio_simulator.messages
    assert [(m.sid, m.to, m.body, m.num_segments) for m in recorded] == [
        (message.sid, TO, "Thông báo: họp tổ dân phố lúc 8 giờ", 1)]
    assert twilio_simulator.count_for(TO) == 1 and twilio_simulator.count_for("+84900000000") == 0


def test_raw_json_uses_rfc2822_dates_and_string_counts(twilio_simulator: TwilioSimulator) -> None:
    response = loopback.post(f"{twilio_simulator.base_url}/2010-04-01/Accounts/{SIM_ACCOUNT_SID}/Messages.json",
                          data={"To": TO, "MessagingServiceSid": "MG" + "a" * 32, "Body": "x" * 161},
                          auth=(SIM_ACCOUNT_SID, SIM_AUTH_TOKEN))
    assert response.status_code == 201
    body = response.json()
    assert re.fullmatch(r"[A-Z][a-z]{2}, \d{2} [A-Z][a-z]{2} \d{4} \d{2}:\d{2}:\d{2} \+0000", body["date_created"])
    assert body["status"] == "accepted" and body["from"] is None and body["num_segments"] == "2"
    assert body["messaging_service_sid"] == "MG" + "a" * 32


@pytest.mark.parametrize(
    ("body", "segments"),
    [("a" * 160, 1), ("a" * 161, 2), ("a" * 306, 2), ("a" * 307, 3), ("€" * 80, 1), ("€" * 81, 2),
     ("ơ" * 70, 1), ("ơ" * 71, 2), ("ơ" * 134, 2), ("ơ" * 135, 3), ("😀" * 35, 1), ("😀" * 36, 2)],
)
def test_segment_counting(body: str, segments: int) -> None:
    assert count_segments(body) == segments


def test_fetch_follows_lifecycle_and_unknown_is_404(client: Client, twilio_simulator: TwilioSimulator) -> None:
    sid = client.messages.create(to=TO, from_=FROM, body="hi").sid
    assert twilio_simulator.wait_for_callbacks()
    assert client.messages(sid).fetch().status == "delivered"
    with pytest.raises(TwilioRestException) as caught:
        client.messages("SM" + "0" * 32).fetch()
    assert (caught.value.status, caught.value.code) == (404, 20404)


def test_list_filters_and_pages_like_twilio(client: Client, twilio_simulator: TwilioSimulator) -> None:
    sids = [client.messages.create(to=TO, from_=FROM, body=f"m{i}").sid for i in range(5)]
    client.messages.create(to="+84987654321", from_="+15005550007", body="other")
    listed = client.messages.list(to=TO, page_size=2)
    assert [m.sid for m in listed] == list(reversed(sids))  # newest first, across three pages
    page_gets = [r for r in twilio_simulator.requests if r.method == "GET" and r.path.endswith("Messages.json")]
    assert len(page_gets) == 3 and dict(page_gets[1].query)["PageToken"] == "PA" + sids[3]
    assert len(client.messages.list()) == 6
    assert [m.body for m in client.messages.list(from_="+15005550007")] == ["other"]
    past, future = datetime.now(UTC) - timedelta(minutes=5), datetime.now(UTC) + timedelta(minutes=5)
    assert len(client.messages.list(to=TO, date_sent_after=past)) == 5
    assert client.messages.list(to=TO, date_sent_after=future) == []
    assert client.messages.list(to=TO, date_sent_before=past) == []
    assert len(client.messages.list(to=TO, date_sent=datetime.now(UTC).strftime("%Y-%m-%d"))) == 5


def test_list_page_metadata(twilio_simulator: TwilioSimulator, client: Client) -> None:
    for i in range(3):
        client.messages.create(to=TO, from_=FROM, body=str(i))
    url = f"{twilio_simulator.base_url}/2010-04-01/Accounts/{SIM_ACCOUNT_SID}/Messages.json"
    first = loopback.get(url, params={"To": TO, "PageSize": 2}, auth=(SIM_ACCOUNT_SID, SIM_AUTH_TOKEN)).json()
    assert (first["page"], first["page_size"], first["start"], first["end"]) == (0, 2, 0, 1)
    assert first["previous_page_uri"] is None
    assert first["first_page_uri"].endswith("Messages.json?To=%2B84912345678&PageSize=2&Page=0")
    second = loopback.get(twilio_simulator.base_url + first["next_page_uri"],
                       auth=(SIM_ACCOUNT_SID, SIM_AUTH_TOKEN)).json()
    assert (second["page"], second["start"], second["end"], second["next_page_uri"]) == (1, 2, 2, None)
    assert [m["body"] for m in first["messages"] + second["messages"]] == ["2", "1", "0"]
    back = loopback.get(twilio_simulator.base_url + second["previous_page_uri"],
                     auth=(SIM_ACCOUNT_SID, SIM_AUTH_TOKEN)).json()
    assert [m["body"] for m in back["messages"]] == ["2", "1"]


# --- errors -----------------------------------------------------------------------------------------


def test_wrong_credentials_get_401_authenticate(twilio_simulator: TwilioSimulator) -> None:
    bad = make_twilio_client(SIM_ACCOUNT_SID, "wrong-token", twilio_simulator.base_url)
    with pytest.raises(TwilioRestException) as caught:
        bad.messages.create(to=TO, from_=FROM, body="hi")
    assert (caught.value.status, caught.value.code) == (401, 20003)
    raw = loopback.get(f"{twilio_simulator.base_url}/2010-04-01/Accounts/{SIM_ACCOUNT_SID}/Messages.json")
    assert raw.status_code == 401
    assert raw.json() == {"code": 20003, "message": "Authenticate",
                          "more_info": "https://www.twilio.com/docs/errors/20003", "status": 401}
    assert twilio_simulator.messages == []


@pytest.mark.parametrize(
    ("kwargs", "code"),
    [({"to": "0912345678", "from_": FROM, "body": "x"}, 21211),
     ({"to": TO, "body": "x"}, 21603),
     ({"to": TO, "from_": FROM}, 21602),
     ({"to": TO, "from_": FROM, "body": "x" * 1601}, 21617),
     ({"to": TO, "from_": FROM, "body": "x", "status_callback": "not a url"}, 21609)],
)
def test_invalid_requests_are_rejected_with_400(client: Client, twilio_simulator: TwilioSimulator,
                                                kwargs: dict[str, Any], code: int) -> None:
    with pytest.raises(TwilioRestException) as caught:
        client.messages.create(**kwargs)
    assert (caught.value.status, caught.value.code) == (400, code)
    assert twilio_simulator.messages == []


@pytest.mark.parametrize("code", [21211, 21610, 21614, 21408])
def test_permanently_failing_numbers(client: Client, twilio_simulator: TwilioSimulator, code: int) -> None:
    twilio_simulator.fail_numbers([TO], code)
    for _ in range(2):
        with pytest.raises(TwilioRestException) as caught:
            client.messages.create(to=TO, from_=FROM, body="hi")
        assert (caught.value.status, caught.value.code) == (400, code)
    assert client.messages.create(to="+84900000001", from_=FROM, body="hi").status == "queued"
    assert twilio_simulator.count_for(TO) == 0


def test_429_carries_retry_after_then_recovers(client: Client, twilio_simulator: TwilioSimulator) -> None:
    twilio_simulator.inject_error(429, count=1, retry_after=7)
    with pytest.raises(TwilioRestException) as caught:
        client.messages.create(to=TO, from_=FROM, body="hi")
    assert (caught.value.status, caught.value.code) == (429, 20429)
    assert retry_after_seconds(client) == 7.0
    client.messages.create(to=TO, from_=FROM, body="hi")
    assert retry_after_seconds(client) is None
    assert twilio_simulator.count_for(TO) == 1


@pytest.mark.parametrize(("status", "code"), [(500, 20500), (503, 20503)])
def test_server_errors_for_next_n_requests(client: Client, twilio_simulator: TwilioSimulator,
                                           status: int, code: int) -> None:
    twilio_simulator.inject_error(status, count=2, method="POST")
    for _ in range(2):
        with pytest.raises(TwilioRestException) as caught:
            client.messages.create(to=TO, from_=FROM, body="hi")
        assert (caught.value.status, caught.value.code) == (status, code)
    assert client.messages.create(to=TO, from_=FROM, body="hi").status == "queued"


def test_errors_for_a_time_span(client: Client, twilio_simulator: TwilioSimulator) -> None:
    twilio_simulator.inject_error(503, seconds=0.3)
    started = time.monotonic()
    failures = 0
    while True:
        try:
            client.messages.create(to=TO, from_=FROM, body="hi")
            break
        except TwilioRestException as exc:
            assert exc.status == 503
            failures += 1
        assert time.monotonic() - started < 10, "error span never ended"
    assert failures >= 1 and time.monotonic() - started >= 0.3


def test_latency_does_not_block_concurrent_requests(client: Client, twilio_simulator: TwilioSimulator) -> None:
    twilio_simulator.set_latency(0.25)
    started = time.monotonic()
    with ThreadPoolExecutor(max_workers=16) as pool:
        results = list(pool.map(lambda i: client.messages.create(to=TO, from_=FROM, body=str(i)).sid, range(16)))
    elapsed = time.monotonic() - started
    assert len(set(results)) == 16
    assert 0.25 <= elapsed < 0.25 * 16 / 3  # sequential service would take 4 s


def test_many_concurrent_creates(client: Client, twilio_simulator: TwilioSimulator) -> None:
    with ThreadPoolExecutor(max_workers=32) as pool:
        sids = list(pool.map(lambda i: client.messages.create(to=f"+849{i:08d}", from_=FROM, body="x").sid,
                             range(300)))
    assert len(set(sids)) == 300 and len(twilio_simulator.messages) == 300


# --- status callbacks -------------------------------------------------------------------------------


def _assert_signed(sink: CallbackSink, token: str = SIM_AUTH_TOKEN) -> None:
    validator = RequestValidator(token)
    for received in sink.received:
        assert received.signature and validator.validate(received.url, received.params, received.signature)
        assert not validator.validate(received.url, {**received.params, "MessageStatus": "x"}, received.signature)


def test_callbacks_in_order_and_signed(client: Client, twilio_simulator: TwilioSimulator,
                                       status_sink: CallbackSink) -> None:
    message = client.messages.create(to=TO, from_=FROM, body="hi", status_callback=status_sink.url_for("/cb?x=1"))
    received = status_sink.wait_for_count(3)
    assert _statuses(status_sink) == ["queued", "sent", "delivered"]
    first = received[0]
    assert first.path == "/cb?x=1" and first.headers["content-type"] == "application/x-www-form-urlencoded"
    assert {k: first.params[k] for k in ("MessageSid", "SmsSid", "SmsStatus", "To", "From", "AccountSid",
                                         "ApiVersion")} == {
        "MessageSid": message.sid, "SmsSid": message.sid, "SmsStatus": "queued", "To": TO, "From": FROM,
        "AccountSid": SIM_ACCOUNT_SID, "ApiVersion": "2010-04-01"}
    assert "ErrorCode" not in received[2].params and re.fullmatch(r"\d{10}", received[2].params["RawDlrDoneDate"])
    _assert_signed(status_sink)


@pytest.mark.parametrize(("status", "code", "expected"),
                         [("undelivered", 30003, ["queued", "sent", "undelivered"]),
                          ("failed", 30006, ["queued", "failed"]),
                          ("undelivered", 30005, ["queued", "sent", "undelivered"]),
                          ("failed", 30008, ["queued", "failed"])])
def test_failing_outcomes_via_callback(client: Client, twilio_simulator: TwilioSimulator, status_sink: CallbackSink,
                                       status: str, code: int, expected: list[str]) -> None:
    twilio_simulator.set_outcome([TO], status, code)
    message = client.messages.create(to=TO, from_=FROM, body="hi", status_callback=status_sink.url_for())
    received = status_sink.wait_for_count(len(expected))
    assert _statuses(status_sink) == expected
    assert received[-1].params["ErrorCode"] == str(code)
    assert all("ErrorCode" not in r.params for r in received[:-1])
    assert twilio_simulator.wait_for_callbacks()
    fetched = client.messages(message.sid).fetch()
    assert (fetched.status, fetched.error_code) == (status, code)
    _assert_signed(status_sink)


def test_duplicated_callbacks(client: Client, twilio_simulator: TwilioSimulator, status_sink: CallbackSink) -> None:
    twilio_simulator.set_callback_mode("duplicated")
    client.messages.create(to=TO, from_=FROM, body="hi", status_callback=status_sink.url_for())
    status_sink.wait_for_count(6)
    assert _statuses(status_sink) == ["queued", "queued", "sent", "sent", "delivered", "delivered"]
    _assert_signed(status_sink)


def test_out_of_order_callbacks(client: Client, twilio_simulator: TwilioSimulator, status_sink: CallbackSink) -> None:
    twilio_simulator.set_callback_mode("out_of_order")
    client.messages.create(to=TO, from_=FROM, body="hi", status_callback=status_sink.url_for())
    status_sink.wait_for_count(3)
    assert _statuses(status_sink) == ["delivered", "sent", "queued"]


def test_settled_callbacks_post_sent_then_the_final_status(client: Client, twilio_simulator: TwilioSimulator,
                                                         status_sink: CallbackSink) -> None:
    twilio_simulator.set_callback_mode("settled")
    client.messages.create(to=TO, from_=FROM, body="hi", status_callback=status_sink.url_for())
    status_sink.wait_for_count(2)
    assert twilio_simulator.wait_for_callbacks()
    assert _statuses(status_sink) == ["sent", "delivered"]
    _assert_signed(status_sink)


def test_dropped_callbacks_still_deliver(client: Client, twilio_simulator: TwilioSimulator,
                                         status_sink: CallbackSink) -> None:
    twilio_simulator.set_callback_mode("dropped")
    message = client.messages.create(to=TO, from_=FROM, body="hi", status_callback=status_sink.url_for())
    assert twilio_simulator.wait_for_callbacks()
    assert status_sink.received == [] and twilio_simulator.callback_attempts == []
    assert client.messages(message.sid).fetch().status == "delivered"


def test_delayed_callbacks(client: Client, twilio_simulator: TwilioSimulator, status_sink: CallbackSink) -> None:
    twilio_simulator.set_callback_mode("delayed", delay=0.3)
    created_at = time.monotonic()
    client.messages.create(to=TO, from_=FROM, body="hi", status_callback=status_sink.url_for())
    received = status_sink.wait_for_count(3)
    assert received[0].received_at - created_at >= 0.3
    assert _statuses(status_sink) == ["queued", "sent", "delivered"]


def test_refused_callback_is_retried_without_blocking_rest(client: Client, twilio_simulator: TwilioSimulator,
                                                          status_sink: CallbackSink) -> None:
    status_sink.stop()  # the port now refuses connections
    started = time.monotonic()
    client.messages.create(to=TO, from_=FROM, body="hi", status_callback=status_sink.url_for())
    assert time.monotonic() - started < 0.5
    assert twilio_simulator.wait_for_callbacks(timeout=10)
    attempts = twilio_simulator.callback_attempts
    assert len(attempts) == 3 and all(a.status_code is None and "ConnectorError" in (a.error or "") for a in attempts)


# --- control API ------------------------------------------------------------------------------------


def test_control_api(twilio_simulator: TwilioSimulator, client: Client) -> None:
    control = httpx.Client(base_url=twilio_simulator.base_url + "/_simulator")
    assert control.post("/fail-numbers", json={"numbers": [TO], "code": 21610}).json() == {"ok": True}
    with pytest.raises(TwilioRestException) as caught:
        client.messages.create(to=TO, from_=FROM, body="hi")
    assert caught.value.code == 21610
    assert control.post("/errors", json={"status": 429, "count": 1, "retry_after": 3}).status_code == 200
    with pytest.raises(TwilioRestException) as caught:
        client.messages.create(to="+84900000002", from_=FROM, body="hi")
    assert caught.value.code == 20429 and retry_after_seconds(client) == 3
    assert control.post("/callback-mode", json={"mode": "sideways"}).status_code == 400
    assert control.post("/errors", json={"status": 418}).status_code == 400
    control.post("/outcomes", json={"numbers": ["+84900000003"], "status": "failed", "error_code": 30006})
    client.messages.create(to="+84900000003", from_=FROM, body="x")
    client.messages.create(to="+84900000004", from_=FROM, body="y")
    assert twilio_simulator.wait_for_callbacks()
    only = control.get("/messages", params={"to": "+84900000003"}).json()["messages"]
    assert [(m["to"], m["body"], m["status"], m["error_code"]) for m in only] == [
        ("+84900000003", "x", "failed", 30006)]
    assert len(control.get("/messages").json()["messages"]) == 2
    recorded = control.get("/requests").json()["requests"]
    assert [r["status_code"] for r in recorded] == [400, 429, 201, 201]
    assert control.post("/latency", json={"seconds": 0.01}).status_code == 200
    assert twilio_simulator.state.faults.latency == 0.01
    control.post("/reset")
    assert control.get("/messages").json()["messages"] == [] and twilio_simulator.state.faults.latency == 0
    assert client.messages.create(to=TO, from_=FROM, body="hi").status == "queued"


# --- the requests the SDK sends are what Twilio's OpenAPI spec declares ----------------------------


def _strict_problems(spec: dict[str, Any], request: RecordedRequest, template: str) -> list[str]:
    """Checks openapi-core leaves out: undeclared form/query parameters."""
    operation = spec["paths"][template][request.method.lower()]
    problems = []
    if request.form:
        schema = operation["requestBody"]["content"]["application/x-www-form-urlencoded"]["schema"]
        problems += [f"undeclared form field {k}" for k, _ in request.form if k not in schema["properties"]]
    declared = {p["name"] for p in operation.get("parameters", []) if p["in"] == "query"}
    problems += [f"undeclared query parameter {k}" for k, _ in request.query if k not in declared]
    return problems


def test_every_recorded_request_and_response_matches_the_openapi_spec(
    twilio_simulator: TwilioSimulator, client: Client, status_sink: CallbackSink
) -> None:
    spec = json.loads(SPEC_SUBSET.read_text())
    openapi = OpenAPI.from_dict(spec)
    created = client.messages.create(
        to=TO, from_=FROM, body="Xin chào", status_callback=status_sink.url_for(), validity_period=3600,
        media_url=["https://example.com/a.png", "https://example.com/b.png"], provide_feedback=True,
        send_at=datetime(2030, 1, 1, tzinfo=UTC), schedule_type="fixed", risk_check="enable")
    client.messages.create(to=TO, messaging_service_sid="MG" + "b" * 32, body="x" * 200)
    client.messages(created.sid).fetch()
    listed = client.messages.list(to=TO, date_sent_after=datetime.now(UTC) - timedelta(days=1),
                                  date_sent_before=datetime.now(UTC) + timedelta(days=1), page_size=1)
    assert len(listed) == 2 and len(client.messages.list(from_=FROM, date_sent=datetime(2020, 1, 1, tzinfo=UTC))) == 0
    assert len(twilio_simulator.requests) == 6
    templates = {r"/Messages\.json$": "/2010-04-01/Accounts/{AccountSid}/Messages.json",
                 r"/Messages/[^/]+\.json$": "/2010-04-01/Accounts/{AccountSid}/Messages/{Sid}.json"}
    for request in twilio_simulator.requests:
        mock = MockRequest("https://api.twilio.com", request.method, request.path, args=dict(request.query),
                           headers=request.headers, data=urlencode(request.form).encode(),
                           content_type=request.headers.get("content-type", "application/json").split(";")[0])
        openapi.validate_request(mock)
        template = next(t for pattern, t in templates.items() if re.search(pattern, request.path))
        assert _strict_problems(spec, request, template) == []
    # Responses: replay the same calls raw and validate what the simulator answers.
    auth = (SIM_ACCOUNT_SID, SIM_AUTH_TOKEN)
    base = f"{twilio_simulator.base_url}/2010-04-01/Accounts/{SIM_ACCOUNT_SID}"
    answers = [
        ("post", "/Messages.json", loopback.post(base + "/Messages.json", data={"To": TO, "From": FROM, "Body": "a"},
                                              auth=auth)),
        ("get", f"/Messages/{created.sid}.json", loopback.get(base + f"/Messages/{created.sid}.json", auth=auth)),
        ("get", "/Messages.json", loopback.get(base + "/Messages.json", params={"PageSize": 2}, auth=auth)),
    ]
    for method, suffix, answer in answers:
        path = f"/2010-04-01/Accounts/{SIM_ACCOUNT_SID}{suffix}"
        mock_request = MockRequest("https://api.twilio.com", method, path, headers={"Authorization": "Basic x"},
                                   data=b"To=%2B1&From=%2B1&Body=a" if method == "post" else None,
                                   content_type="application/x-www-form-urlencoded")
        openapi.validate_response(mock_request, MockResponse(answer.content, answer.status_code))


def test_a_bogus_request_is_caught_by_the_validation() -> None:
    spec = json.loads(SPEC_SUBSET.read_text())
    bogus = RecordedRequest("POST", f"/2010-04-01/Accounts/{SIM_ACCOUNT_SID}/Messages.json", [("Foo", "1")],
                            [("To", TO), ("Bodyy", "x")], {}, 201)
    assert _strict_problems(spec, bogus, "/2010-04-01/Accounts/{AccountSid}/Messages.json") == [
        "undeclared form field Bodyy", "undeclared query parameter Foo"]
    openapi = OpenAPI.from_dict(spec)
    with pytest.raises(Exception, match="integer"):
        openapi.validate_request(MockRequest(
            "https://api.twilio.com", "post", bogus.path, headers={"Authorization": "Basic x"},
            data=b"To=%2B1&Body=x&ValidityPeriod=soon", content_type="application/x-www-form-urlencoded"))


@pytest.mark.skipif(not FULL_SPEC.exists(), reason="full Twilio spec not present on this machine")
def test_spec_subset_is_verbatim_from_twilio_spec() -> None:
    full = json.loads(FULL_SPEC.read_text())
    subset = json.loads(SPEC_SUBSET.read_text())
    for path, operations in subset["paths"].items():
        assert operations == full["paths"][path]
    for name, schema in subset["components"]["schemas"].items():
        assert schema == full["components"]["schemas"][name]


# --- wiring: settings, production client, CLI -----------------------------------------------------


def test_fixture_uses_settings_credentials(settings: Settings, twilio_simulator: TwilioSimulator) -> None:
    assert twilio_simulator.account_sid == settings.twilio_account_sid
    client = make_twilio_client(settings.twilio_account_sid, settings.twilio_auth_token.get_secret_value(),
                                twilio_simulator.base_url)
    assert client.messages.create(to=TO, from_=settings.twilio_from, body="hi").status == "queued"


def test_empty_base_url_targets_real_twilio_without_calling_it() -> None:
    client = make_twilio_client(SIM_ACCOUNT_SID, SIM_AUTH_TOKEN, timeout=3.0)
    assert client.api.base_url == "https://api.twilio.com"
    assert client.http_client.timeout == 3.0 and client.edge is None and client.region is None


def test_cli_serves_until_interrupted(tmp_path: Path) -> None:
    code = ("from broadcast.simulators.twilio.cli import run_simulator; "
            f"run_simulator('127.0.0.1', 0, '{SIM_ACCOUNT_SID}', '{SIM_AUTH_TOKEN}')")
    # faulthandler: this process once died of SIGSEGV on Ctrl-C in a loaded CI run; its stack will say where.
    process = subprocess.Popen([sys.executable, "-u", "-X", "faulthandler", "-c", code], stdout=subprocess.PIPE,
                               text=True,
                               cwd=Path(__file__).resolve().parents[2])
    try:
        assert process.stdout is not None
        line = process.stdout.readline()
        url = re.search(r"http://127\.0\.0\.1:\d+", line)
        assert url, line
        assert loopback.get(url.group(0) + "/_simulator/health").json()["ok"] is True
        process.send_signal(signal.SIGINT)
        try:
            returned = process.wait(timeout=30)  # it gives its server 5 s; the rest is a loaded machine's slack
        except subprocess.TimeoutExpired:
            process.send_signal(signal.SIGABRT)  # faulthandler prints every thread's stack to the test's output
            process.wait(timeout=10)
            raise
        assert returned == 0
    finally:
        if process.poll() is None:
            process.kill()


def test_simulators_are_independent(twilio_simulator_factory: Any) -> None:
    other = twilio_simulator_factory("AC" + "e" * 32, "other-token")
    client = make_twilio_client("AC" + "e" * 32, "other-token", other.base_url)
    client.messages.create(to=TO, from_=FROM, body="hi")
    assert other.count_for(TO) == 1
    other.stop()
    with pytest.raises(httpx.ConnectError):
        loopback.get(other.base_url + "/_simulator/health")


def test_simulator_in_a_child_process_is_steered_over_http() -> None:
    with SimulatorProcess() as remote:
        client = make_twilio_client(SIM_ACCOUNT_SID, SIM_AUTH_TOKEN, remote.base_url)
        remote.fail_numbers(["+84900000009"], 21614)
        with pytest.raises(TwilioRestException) as caught:
            client.messages.create(to="+84900000009", from_=FROM, body="hi")
        assert caught.value.code == 21614
        remote.inject_error(429, count=1, retry_after=2)
        with pytest.raises(TwilioRestException):
            client.messages.create(to=TO, from_=FROM, body="hi")
        assert retry_after_seconds(client) == 2
        client.messages.create(to=TO, from_=FROM, body="hi")
        assert remote.count_for(TO) == 1 and remote.messages(TO)[0]["body"] == "hi"
        with pytest.raises(ValueError, match="mode"):
            remote.set_callback_mode("sideways")
        remote.reset()
        assert remote.messages() == []
        url = remote.base_url
    with pytest.raises(httpx.ConnectError):
        loopback.get(url + "/_simulator/health")


# --- the account: what `broadcast check` reads ---------------------------------------------------------


def test_fetching_the_account_answers_like_twilio(twilio_simulator: TwilioSimulator, client: Client) -> None:
    account = client.api.v2010.accounts(SIM_ACCOUNT_SID).fetch()
    assert (account.sid, account.status, account.type, account.owner_account_sid) == (
        SIM_ACCOUNT_SID, "active", "Full", SIM_ACCOUNT_SID)
    assert account.uri == f"/2010-04-01/Accounts/{SIM_ACCOUNT_SID}.json"
    assert account.auth_token is None  # the simulator never hands out a secret
    raw = loopback.get(f"{twilio_simulator.base_url}/2010-04-01/Accounts/{SIM_ACCOUNT_SID}.json",
                    auth=(SIM_ACCOUNT_SID, SIM_AUTH_TOKEN))
    openapi = OpenAPI.from_dict(json.loads(SPEC_SUBSET.read_text()))
    request = MockRequest("https://api.twilio.com", "get", f"/2010-04-01/Accounts/{SIM_ACCOUNT_SID}.json",
                          headers={"Authorization": raw.request.headers["authorization"]})
    openapi.validate_response(request, MockResponse(raw.content, status_code=200,
                                                    content_type="application/json"))


def test_a_wrong_token_gets_twilios_401(twilio_simulator: TwilioSimulator) -> None:
    wrong = make_twilio_client(SIM_ACCOUNT_SID, "not-the-token", twilio_simulator.base_url)
    with pytest.raises(TwilioRestException) as caught:
        wrong.api.v2010.accounts(SIM_ACCOUNT_SID).fetch()
    assert (caught.value.status, caught.value.code) == (401, 20003)
    raw = loopback.get(f"{twilio_simulator.base_url}/2010-04-01/Accounts/{SIM_ACCOUNT_SID}.json",
                    auth=(SIM_ACCOUNT_SID, "not-the-token"))
    assert raw.json() == {"code": 20003, "message": "Authenticate", "status": 401,
                          "more_info": "https://www.twilio.com/docs/errors/20003"}
    assert raw.headers["www-authenticate"] == 'Basic realm="Twilio API"'


def test_another_account_is_not_found_and_a_suspended_one_says_so(twilio_simulator: TwilioSimulator,
                                                                  client: Client) -> None:
    with pytest.raises(TwilioRestException) as caught:
        client.api.v2010.accounts("AC" + "6" * 32).fetch()
    assert caught.value.status == 404
    control = SimulatorControl(twilio_simulator.base_url)  # as `broadcast check`'s tests steer a simulator process
    control.set_account_status("suspended")
    control.close()
    assert client.api.v2010.accounts(SIM_ACCOUNT_SID).fetch().status == "suspended"
    twilio_simulator.reset()
    assert client.api.v2010.accounts(SIM_ACCOUNT_SID).fetch().status == "active"


# --- faults for the outage tests: some callbacks dropped, connections refused, residents' messages listed -------


def test_callbacks_dropped_for_a_share_of_messages(client: Client, twilio_simulator: TwilioSimulator,
                                                   status_sink: CallbackSink) -> None:
    twilio_simulator.drop_callbacks(0.25)
    sids = [client.messages.create(to=f"+849123{i:05d}", from_=FROM, body="hi", status_callback=status_sink.url_for())
            .sid for i in range(200)]
    assert twilio_simulator.wait_for_callbacks()
    dropped = twilio_simulator.state.dropped
    assert 25 < len(dropped) < 80 and dropped <= set(sids)
    called = {c.params["MessageSid"] for c in status_sink.received}
    assert called == set(sids) - dropped
    assert {client.messages(sid).fetch().status for sid in dropped} == {"delivered"}  # final all the same
    twilio_simulator.set_outcome(["+84900000001"], "sent")  # never final, whatever is asked
    stuck = client.messages.create(to="+84900000001", from_=FROM, body="hi")
    assert twilio_simulator.wait_for_callbacks()
    assert client.messages(stuck.sid).fetch().status == "sent"


def test_refusing_connections_for_a_while_then_listening_again(client: Client,
                                                              twilio_simulator: TwilioSimulator) -> None:
    before = client.messages.create(to=TO, from_=FROM, body="before")
    twilio_simulator.refuse_connections(1.0)
    time.sleep(0.3)
    with pytest.raises(httpx.ConnectError):
        loopback.get(twilio_simulator.base_url + "/_simulator/health")
    deadline = time.monotonic() + 10
    while True:
        try:
            loopback.get(twilio_simulator.base_url + "/_simulator/health")
            break
        except httpx.ConnectError:
            assert time.monotonic() < deadline, "still refusing"
            time.sleep(0.1)
    fresh = make_twilio_client(SIM_ACCOUNT_SID, SIM_AUTH_TOKEN, twilio_simulator.base_url)
    assert fresh.messages(before.sid).fetch().body == "before"  # its state survived the outage


def test_residents_messages_are_kept_and_listed_like_twilio(twilio_simulator: TwilioSimulator, client: Client,
                                                            status_sink: CallbackSink) -> None:
    control = SimulatorControl(twilio_simulator.base_url)
    ours = "+84900000000"
    delivered = control.inbound("+84981111111", "Cho hỏi", to=ours, url=status_sink.url_for("/sms"))
    lost = control.inbound("+84982222222", "TC", to=ours, deliver=False)
    assert delivered["status"] == 200 and lost["status"] is None
    assert [c.params["MessageSid"] for c in status_sink.wait_for_count(1)] == [delivered["sid"]]
    client.messages.create(to="+84983333333", from_=FROM, body="outbound")
    since = datetime.now(UTC) - timedelta(minutes=1)
    listed = list(client.messages.stream(to=ours, date_sent_after=since))
    assert {(m.sid, m.direction, m.from_, m.status) for m in listed} == {
        (delivered["sid"], "inbound", "+84981111111", "received"), (lost["sid"], "inbound", "+84982222222", "received")}
    assert client.messages(lost["sid"]).fetch().body == "TC"
    assert [m["sid"] for m in control.received(ours)] == [delivered["sid"], lost["sid"]]
    assert twilio_simulator.count_for(ours) == 0  # what the tests count as sent stays outbound only
    control.close()
