"""`broadcast check`: run every check, print one line each as it finishes, and say whether all passed."""

from __future__ import annotations

from collections.abc import Callable

from broadcast.config import load_settings
from broadcast.exceptions import ConfigurationError
from broadcast.ops.checks import CHECKS, Context, Line, Mark
from broadcast.ops.messages import Lang, say


def run_checks(lang: Lang, *, timeout: float = 10.0, min_free_bytes: int = 1 << 30,
               emit: Callable[[str], None] = print, **overrides: object) -> int:
    """Print each outcome through `emit`; 0 when nothing failed, 1 otherwise (settings that do not load included)."""
    try:
        settings = load_settings(**overrides)
    except ConfigurationError as exc:
        emit(f"{Mark.fail} {say('settings_invalid', lang, error=exc.message)}")
        return 1
    ctx = Context(settings, lang, timeout=timeout, min_free_bytes=min_free_bytes)
    lines: list[Line] = []
    try:
        for check in CHECKS:
            for line in check(ctx):
                lines.append(line)
                emit(f"{line.mark} {line.message}")
    finally:
        ctx.close()
    failed = sum(1 for line in lines if line.mark is Mark.fail)
    counted = sum(1 for line in lines if line.mark is not Mark.skip)
    emit(say("summary_failed", lang, failed=failed, total=counted) if failed
         else say("summary_ok", lang, total=counted))
    return 1 if failed else 0
