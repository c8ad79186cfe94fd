"""Build each FastAPI route's request handling once per test process instead of once per app.

The suite creates a fresh app for almost every test (its own database, settings, lifespan). FastAPI builds a
route's dependants and pydantic adapters lazily, for every app, on that app's first request: about 0.26 s of
CPU for our 177 routes, which was a fifth of the fast suite. The routers are module-level objects, so the same
route included the same way builds the same thing: keep the first build. Everything that can differ between
two apps of the suite (the body size limit, prefix, dependencies, schema visibility) is part of the key; no
test overrides dependencies per app (`app.dependency_overrides`), the one thing a shared build would get wrong.

Only tests install this. If FastAPI changes the private hook, nothing is patched and the suite runs as before.
"""

from __future__ import annotations

from typing import Any

from fastapi import routing

_built: dict[tuple[Any, ...], Any] = {}


def share_route_builds() -> bool:
    """Patch FastAPI's per-inclusion route build with a process-wide cache; False when the hook is gone."""
    effective = getattr(routing, "_EffectiveRouteContext", None)
    build = getattr(effective, "from_api_route", None)
    if effective is None or build is None or getattr(build, "shared", False):
        return False
    original = build.__func__

    def from_api_route(cls: Any, *, original_route: Any, include_context: Any) -> Any:
        key = (id(original_route), include_context.prefix, include_context.max_body_size,
               repr(include_context.form_limits), include_context.include_in_schema, include_context.deprecated,
               tuple(id(d) for d in include_context.dependencies), tuple(include_context.tags))
        found = _built.get(key)
        if found is None or found.original_route is not original_route:
            found = original(cls, original_route=original_route, include_context=include_context)
            _built[key] = found
        return found

    from_api_route.shared = True  # type: ignore[attr-defined]
    effective.from_api_route = classmethod(from_api_route)
    return True
