"""The API describes what it answers: every JSON success has a named model (no free-form objects)."""

from __future__ import annotations

from typing import Any


def _untyped(schema: dict[str, Any]) -> bool:
    """A schema that says nothing of its fields: `{}`, or an object that takes any property."""
    if "$ref" in schema:
        return False
    if schema.get("type") == "array":
        return _untyped(schema.get("items", {}))
    if schema.get("type") == "object" or "additionalProperties" in schema:
        extra = schema.get("additionalProperties", True)
        return extra is True or (isinstance(extra, dict) and _untyped(extra))  # a typed map is fine
    return not schema


def test_every_json_answer_has_a_model(anonymous_client: Any) -> None:
    spec = anonymous_client.app.openapi()
    loose = []
    for path, operations in spec["paths"].items():
        for method, operation in operations.items():
            for code, answer in operation["responses"].items():
                body = answer.get("content", {}).get("application/json")
                if code.startswith("2") and body is not None and _untyped(body.get("schema", {})):
                    loose.append(f"{method.upper()} {path} {code}")
    assert loose == []


def test_the_check_sees_a_free_form_answer() -> None:
    assert _untyped({"type": "object", "additionalProperties": True})
    assert _untyped({"type": "array", "items": {"type": "object", "additionalProperties": True}})
    assert _untyped({})
    assert not _untyped({"type": "object", "additionalProperties": {"type": "string"}})
    assert not _untyped({"type": "array", "items": {"$ref": "#/components/schemas/X"}})
