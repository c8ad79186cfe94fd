"""Bad input costs the caller a 4xx, never the service a 5xx: each finding of the security review, replayed."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.engine import Engine
from twilio.request_validator import RequestValidator

from broadcast.config import Settings
from tests.conftest import BOTH
from tests.support.seed import approved_campaign, seed_communes

pytestmark = BOTH  # the database matters here: SQL, locking or types differ

HUGE = str(2**64)  # above any BIGINT


@pytest.mark.parametrize("path", [
    f"/api/v1/campaigns/{HUGE}", f"/api/v1/contacts/{HUGE}", f"/api/v1/groups/{HUGE}",
    f"/api/v1/deliveries/{HUGE}", f"/api/v1/campaigns?offset={HUGE}", f"/api/v1/audit?offset={HUGE}",
    f"/api/v1/metrics/campaigns/{HUGE}", f"/api/v1/reports/campaigns/{HUGE}.csv", f"/api/v1/inbox/{HUGE}",
    "/api/v1/campaigns/2147483648", "/api/v1/campaigns/0", "/api/v1/campaigns/-1",
])
def test_ids_and_offsets_beyond_any_row_are_422(client: TestClient, path: str) -> None:
    response = client.get(path)
    assert response.status_code == 422, response.text
    assert response.json()["error"] == "ValidationFailed"


def test_pages_refuse_huge_numbers_too(anonymous_client: TestClient, engine: Engine) -> None:
    from tests.web.conftest import login, seed_web

    seed_web(engine)
    login(anonymous_client, "officer")
    for path in (f"/campaigns/{HUGE}", f"/inbox/{HUGE}", f"/residents?page={HUGE}", f"/campaigns?page={HUGE}",
                 f"/ui/progress?ids={HUGE},1", f"/residents?group={HUGE}"):
        assert anonymous_client.get(path).status_code < 500, path


def test_null_for_a_required_field_in_an_update_names_the_field(client: TestClient, engine: Engine) -> None:
    campaign_id = approved_campaign(engine)
    for field in ("title", "description", "channels", "strip_diacritics"):
        response = client.patch(f"/api/v1/campaigns/{campaign_id}", json={field: None})
        assert response.status_code == 422 and response.json()["field"] == field, response.text
    contact = client.post("/api/v1/contacts", json={"phone": "0912345678"}).json()
    response = client.patch(f"/api/v1/contacts/{contact['id']}", json={"full_name": None})
    assert response.status_code == 422 and response.json()["field"] == "full_name"
    assert client.patch(f"/api/v1/contacts/{contact['id']}", json={"commune_code": None}).status_code == 200


@pytest.mark.parametrize(("body", "field"), [
    ({"title": "x", "sms_text": ""}, "sms_text"),
    ({"title": "x", "sms_text": "a" * 20_001}, "sms_text"),
    ({"title": "x", "description": "d" * 5_001}, "description"),
    ({"title": "x", "audience": {"groups": list(range(1, 1_002))}}, "audience.groups"),
    ({"title": "x", "contents": [{"channel": "sms", "body": "b" * 1601}]}, "contents.0"),
])
def test_campaign_bodies_are_bounded(client: TestClient, body: dict[str, Any], field: str) -> None:
    response = client.post("/api/v1/campaigns", json=body)
    assert response.status_code == 422, response.text[:300]
    assert (response.json()["field"] or "").startswith(field)


def test_residents_and_audiences_are_bounded(client: TestClient, engine: Engine) -> None:
    seed_communes(engine)
    big_name = client.post("/api/v1/contacts", json={"phone": "0912345678", "full_name": "n" * 201})
    assert big_name.status_code == 422 and big_name.json()["field"] == "full_name"
    many = client.post("/api/v1/campaigns/audience/count", json={"groups": list(range(1, 1_002))})
    assert many.status_code == 422
    # Megabytes of text never reach validation: the body is refused first (REQUEST_MAX_BYTES).
    huge = client.post("/api/v1/contacts", json={"phone": "0912345678", "full_name": "n" * 10_000_000})
    assert huge.status_code == 413
    million = client.post("/api/v1/campaigns/audience/count", json={"groups": list(range(1, 1_000_002))})
    assert million.status_code == 413
    assert client.post("/api/v1/contacts", json={"phone": "0912345678", "note": "n" * 501}).status_code == 422


@pytest.mark.parametrize("query", ["start=0001-01-01", "end=9999-12-31", "start=2024-13-01"])
def test_report_dates_are_bounded(client: TestClient, query: str) -> None:
    assert client.get(f"/api/v1/metrics/timeseries?{query}").status_code == 422
    assert client.get(f"/api/v1/reports/period.csv?{query}").status_code == 422


@pytest.mark.parametrize("sheet", ["đ", "communes\r\nSet-Cookie: x=1", 'a"b', "nope"])
def test_report_sheet_names_are_a_closed_list(client: TestClient, engine: Engine, sheet: str) -> None:
    campaign_id = approved_campaign(engine)
    response = client.get(f"/api/v1/reports/campaigns/{campaign_id}.csv", params={"sheet": sheet})
    assert response.status_code == 422 and response.json()["field"] == "sheet"
    assert client.get(f"/api/v1/reports/campaigns/{campaign_id}.csv", params={"sheet": "failures"}).status_code == 200


def signed(settings: Settings, path: str, params: dict[str, str]) -> dict[str, str]:
    validator = RequestValidator(settings.twilio_auth_token.get_secret_value())
    return {"X-Twilio-Signature": validator.compute_signature(f"{settings.public_base_url}{path}", params)}


@pytest.mark.parametrize(("path", "params"), [
    ("/webhooks/twilio/status", {"MessageSid": "SM1", "MessageStatus": "failed", "ErrorCode": "²"}),
    ("/webhooks/twilio/status?d=%C2%B2", {"MessageSid": "SM1", "MessageStatus": "delivered"}),
    (f"/webhooks/twilio/status?d={'9' * 5000}", {"MessageSid": "SM1", "MessageStatus": "delivered"}),
    ("/voice/status?d=%C2%B2", {"CallSid": "CA1", "CallStatus": "completed", "CallDuration": "²"}),
    (f"/voice/status?d={'9' * 5000}", {"CallSid": "CA1", "CallStatus": "completed", "CallDuration": "9" * 5000}),
    (f"/voice/gather?d=1&n={'9' * 5000}", {"CallSid": "CA1", "Digits": "1"}),
    ("/voice/twiml?d=%C2%B2", {"CallSid": "CA1", "CallStatus": "in-progress"}),
])
def test_signed_but_malformed_webhooks_are_not_server_errors(client: TestClient, settings: Settings, path: str,
                                                             params: dict[str, str]) -> None:
    response = client.post(path, data=params, headers=signed(settings, path, params))
    assert response.status_code < 500, response.text[:300]


def test_a_gateway_timestamp_that_is_not_a_number_is_403(client: TestClient) -> None:
    from broadcast.channels.gateway.channel import verify

    for stamp in ("²", "9" * 5000, "-1", ""):
        assert not verify("key", b"{}", stamp, "00", tolerance=300)
        response = client.post("/webhooks/gateway/xa-1", content=b"{}",
                               headers={"X-Timestamp": stamp.encode(), "X-Signature": "00"})
        assert response.status_code == 403, (stamp[:5], response.text)


def test_openapi_declares_security_errors_and_file_types(client: TestClient) -> None:
    spec = client.get("/openapi.json").json()
    assert spec["components"]["securitySchemes"]["PersonalToken"] == {
        "type": "http", "scheme": "bearer", "description": spec["components"]["securitySchemes"]["PersonalToken"]
        ["description"]}
    operation = spec["paths"]["/api/v1/contacts/{contact_id}"]["get"]
    assert {"PersonalToken": []} in operation["security"]
    assert {"401", "403", "404", "422"} <= set(operation["responses"])
    assert operation["responses"]["404"]["content"]["application/json"]["schema"]["$ref"].endswith("/ErrorOut")
    xlsx = spec["paths"]["/api/v1/reports/period.xlsx"]["get"]["responses"]["200"]["content"]
    assert list(xlsx) == ["application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"]
    csv = spec["paths"]["/api/v1/reports/delivery-log.csv"]["get"]["responses"]["200"]["content"]
    assert list(csv) == ["text/csv; charset=utf-8"]
    assert "head" not in spec["paths"]["/clips/{token}/{filename}"]  # one operation id per route


def test_request_bodies_are_bounded_outside_the_upload_routes(client: TestClient) -> None:
    big_json = b'{"phone": "0912345678", "full_name": "' + b"n" * 2_000_000 + b'"}'
    refused = client.post("/api/v1/contacts", content=big_json, headers={"Content-Type": "application/json"})
    assert refused.status_code == 413  # the framework's own answer, before the route reads a byte
    form = client.post("/login", data={"username": "a", "password": "p" * 2_000_000})
    assert form.status_code == 413
    # The upload routes keep their own, larger limit (IMPORT_MAX_BYTES): a 2 MB list is read and imported.
    rows = "Họ tên,Số điện thoại\n" + "".join(f"Người {i},09{i:08d}\n" for i in range(60_000))
    assert len(rows.encode()) > 1024 * 1024
    imported = client.post("/api/v1/contacts/import", files={"file": ("ds.csv", rows.encode(), "text/csv")})
    assert imported.status_code == 200 and imported.json()["rows_read"] == 60_000
