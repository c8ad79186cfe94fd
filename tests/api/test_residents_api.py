"""Residents, communes and groups over the JSON API."""

from __future__ import annotations

from typing import Any

from sqlalchemy.engine import Engine

from tests.conftest import BOTH
from tests.support.seed import seed_communes

pytestmark = BOTH  # the database matters here: SQL, locking or types differ


def test_create_get_update_delete_a_resident(client: Any, engine: Engine) -> None:
    seed_communes(engine)
    created = client.post("/api/v1/contacts", json={
        "phone": "0162 345 6789", "full_name": "Thạch Thị Sa Rết", "commune_code": "31825",
        "language": "km", "groups": ["Hộ nghèo"], "tags": ["Khmer"]})
    assert created.status_code == 201, created.text
    body = created.json()
    assert body["phone"] == "+84323456789"  # old 11-digit prefix 0162 → 032
    assert body["groups"] == ["Hộ nghèo"] and body["tags"] == ["khmer"]
    contact_id = body["id"]

    assert client.get(f"/api/v1/contacts/{contact_id}").json()["full_name"] == "Thạch Thị Sa Rết"
    updated = client.patch(f"/api/v1/contacts/{contact_id}", json={"sms_opted_out": True, "address": "Ấp 3"})
    assert updated.status_code == 200
    assert updated.json()["sms_opted_out"] is True and updated.json()["opt_out_source"] == "officer"
    assert client.delete(f"/api/v1/contacts/{contact_id}").status_code == 204
    missing = client.get(f"/api/v1/contacts/{contact_id}")
    assert missing.status_code == 404 and "message" in missing.json()


def test_errors_name_the_field(client: Any, engine: Engine) -> None:
    seed_communes(engine)
    bad_phone = client.post("/api/v1/contacts", json={"phone": "12345"})
    assert bad_phone.status_code == 422 and bad_phone.json()["field"] == "phone"
    bad_commune = client.post("/api/v1/contacts", json={"phone": "0912345678", "commune_code": "99999"})
    assert bad_commune.status_code == 422 and bad_commune.json()["field"] == "commune_code"
    missing = client.post("/api/v1/contacts", json={"full_name": "x"})
    assert missing.status_code == 422 and missing.json()["field"] == "phone"
    client.post("/api/v1/contacts", json={"phone": "0912345678"})
    twice = client.post("/api/v1/contacts", json={"phone": "+84 912 345 678"})
    assert twice.status_code == 409 and twice.json()["field"] == "phone"


def test_list_filters_and_pagination(client: Any, engine: Engine) -> None:
    seed_communes(engine)
    for i in range(12):
        client.post("/api/v1/contacts", json={
            "phone": f"09120000{i:02d}", "full_name": f"Người {i}",
            "commune_code": "32248" if i % 2 else "32002", "groups": ["Ngư dân"] if i % 3 == 0 else []})
    page = client.get("/api/v1/contacts", params={"limit": 5, "offset": 5}).json()
    assert page["total"] == 12 and len(page["items"]) == 5 and page["offset"] == 5
    by_commune = client.get("/api/v1/contacts", params={"commune_code": "32248"}).json()
    assert by_commune["total"] == 6
    groups = client.get("/api/v1/groups").json()["items"]
    fishers = next(g for g in groups if g["name"] == "Ngư dân")
    assert fishers["member_count"] == 4
    in_group = client.get("/api/v1/contacts", params={"group_id": fishers["id"]}).json()
    assert in_group["total"] == 4
    by_phone = client.get("/api/v1/contacts", params={"q": "0912000007"}).json()
    assert [c["full_name"] for c in by_phone["items"]] == ["Người 7"]


def test_groups_crud(client: Any) -> None:
    made = client.post("/api/v1/groups", json={"name": "Hội Phụ nữ", "description": "xã Đất Mũi"})
    assert made.status_code == 201
    gid = made.json()["id"]
    assert client.post("/api/v1/groups", json={"name": "Hội Phụ nữ"}).status_code == 409
    assert client.patch(f"/api/v1/groups/{gid}", json={"name": "Hội LHPN"}).json()["name"] == "Hội LHPN"
    assert client.delete(f"/api/v1/groups/{gid}").status_code == 204
    assert client.get(f"/api/v1/groups/{gid}").status_code == 404


def test_communes_listing_and_settings(client: Any, engine: Engine) -> None:
    seed_communes(engine)
    listed = client.get("/api/v1/communes", params={"q": "Phường"}).json()
    assert listed["total"] == 2
    changed = client.patch("/api/v1/communes/32248", json={"airing_slots": ["17:00", "05:30"],
                                                         "legal_aid_contact": "0290 3870 101"})
    assert changed.json()["airing_slots"] == ["05:30", "17:00"]
    bad = client.patch("/api/v1/communes/32248", json={"airing_slots": ["5h"]})
    assert bad.status_code == 422 and bad.json()["field"].startswith("airing_slots")


def test_health_and_openapi(client: Any) -> None:
    assert client.get("/healthz").json()["status"] == "ok"
    spec = client.get("/openapi.json").json()
    for path in ("/api/v1/contacts", "/api/v1/communes", "/api/v1/groups", "/api/v1/contacts/import",
                 "/api/v1/sms/estimate", "/api/v1/campaigns/{campaign_id}/start"):
        assert path in spec["paths"], path
