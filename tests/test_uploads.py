"""Uploads against the real server (uvicorn on loopback): a declared size over the limit, or a caller who may
not upload, is answered at once, without the server waiting for (or reading) the body."""

from __future__ import annotations

import http.client
import json
from urllib.parse import urlsplit

import pytest
from sqlalchemy.engine import Engine

from tests.conftest import make_user


def post_headers_only(base_url: str, path: str, headers: dict[str, str]) -> tuple[int, bytes]:
    """Send a POST's headers announcing 10 GB and no body at all; return the answer."""
    url = urlsplit(base_url)
    connection = http.client.HTTPConnection(url.hostname or "127.0.0.1", url.port, timeout=30)
    try:
        connection.putrequest("POST", path)
        for name, value in {"Content-Type": "multipart/form-data; boundary=xyz",
                            "Content-Length": str(10 << 30), **headers}.items():
            connection.putheader(name, value)
        connection.endheaders()
        response = connection.getresponse()
        return response.status, response.read()
    finally:
        connection.close()


@pytest.mark.parametrize(("path", "limit"), [("/api/v1/contacts/import", "50 MB"), ("/api/v1/audio/uploads", "50 MB")])
def test_declared_size_over_the_limit_is_answered_before_the_body(
    live_app: str, live_engine: Engine, path: str, limit: str
) -> None:
    token = make_user(live_engine, "officer")
    status, body = post_headers_only(live_app, path, {"Authorization": f"Bearer {token}"})

    assert status == 413
    assert json.loads(body)["message"] == f"Tệp gửi lên 10 GB, vượt giới hạn (tối đa {limit})."


def test_anonymous_upload_is_refused_before_the_body(live_app: str) -> None:
    status, body = post_headers_only(live_app, "/api/v1/contacts/import", {})
    assert status == 401 and json.loads(body)["error"] == "AuthenticationRequired"
    status, _ = post_headers_only(live_app, "/residents/import", {})
    assert status == 303  # to the login page
