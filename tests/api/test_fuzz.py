"""Schemathesis over every operation of the OpenAPI document: no server error, every answer as documented.

Runs as an admin (who may call everything) against the app in-process on SQLite, with a bounded number of
generated requests per operation (BROADCAST_FUZZ_EXAMPLES, default 20) so CI stays fast; raise it locally to dig.
"""

from __future__ import annotations

import os
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, given
from hypothesis import settings as hypothesis_settings
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode, checks
from schemathesis.core.result import Err
from sqlalchemy.engine import Engine

from broadcast.config import Settings
from tests.conftest import make_user

EXAMPLES = int(os.environ.get("BROADCAST_FUZZ_EXAMPLES", "20"))
# No 5xx, and every answer as the document says: its status code listed, its content type and body as declared.
CHECKS = [checks.not_a_server_error, checks.status_code_conformance, checks.content_type_conformance,
          checks.response_headers_conformance, checks.response_schema_conformance]


def fuzz_operation(operation: Any, headers: dict[str, str], mode: GenerationMode) -> str | None:
    """The first failure schemathesis finds for one operation (a server error or an undocumented answer)."""
    found: list[str] = []

    @given(operation.as_strategy(generation_mode=mode))
    @hypothesis_settings(max_examples=EXAMPLES, deadline=None, database=None, phases=[Phase.generate],
                         suppress_health_check=list(HealthCheck), derandomize=True)
    def run(case: Any) -> None:
        if found:
            return
        try:
            case.call_and_validate(headers=headers, checks=CHECKS)
        except (Exception, BaseExceptionGroup) as exc:  # a grouped failure, with the request to reproduce it
            found.append(f"{operation.label} ({mode.value}): {exc}"[:1500])

    try:
        run()
    except Unsatisfiable:  # nothing to make invalid (an operation without parameters or body)
        pass
    except (Exception, BaseExceptionGroup) as exc:  # hypothesis re-raises what it found
        found.append(f"{operation.label} ({mode.value}): {exc}"[:1500])
    return found[0] if found else None


@pytest.mark.parametrize("mode", [GenerationMode.POSITIVE, GenerationMode.NEGATIVE], ids=lambda m: m.value)
def test_schemathesis_finds_no_server_error_and_no_schema_violation(settings: Settings, engine: Engine,
                                                                    mode: GenerationMode) -> None:
    """Valid requests and invalid ones (wrong types, out-of-range numbers, missing fields) alike."""
    from broadcast.app import create_app

    headers = {"Authorization": f"Bearer {make_user(engine, 'admin')}"}
    schema = schemathesis.openapi.from_asgi("/openapi.json", create_app(settings))
    failures = []
    for result in schema.get_all_operations():
        if isinstance(result, Err):
            failures.append(f"the schema cannot be read: {result.err()}")
        elif (failure := fuzz_operation(result.ok(), headers, mode)) is not None:
            failures.append(failure)
    assert failures == [], "\n\n".join(failures)
