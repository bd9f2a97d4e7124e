"""Build collectors from config: the one place that knows both config and collectors."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from collectors.base import Collector, CollectorError

from .config import Brand, Config, Source


def collectors_for(config: Config, brand: Brand, source: Source) -> Iterator[tuple[Collector, str]]:
    raise CollectorError(f"source type {source.type!r} is not available yet", source=source.type)
    yield  # pragma: no cover


__all__: list[Any] = ["collectors_for"]
