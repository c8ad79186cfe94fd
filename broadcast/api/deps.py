"""Dependencies the API routes share beyond the foundation's (session, settings, engine)."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from broadcast.flows.context import Effects, effects_of


def _effects(request: Request) -> Effects:
    return effects_of(request.app)


# What a use case in broadcast/flows needs from this process: settings, audio worker, scheduler wake-up.
EffectsDep = Annotated[Effects, Depends(_effects)]
