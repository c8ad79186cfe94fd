"""The envelope every JSON list answers with: a typed page of items (a foundation module, no domain imports)."""

from __future__ import annotations

from typing import Generic, TypeVar

from pydantic import BaseModel

T = TypeVar("T")


class Page(BaseModel, Generic[T]):
    items: list[T]
    total: int
    offset: int
    limit: int


def page(items: list[T], total: int, offset: int, limit: int) -> Page[T]:
    return Page[T](items=items, total=total, offset=offset, limit=limit)
