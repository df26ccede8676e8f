"""One exception type for every bad input: its message is the one line the user sees; and the check of a number's
range that every layer's settings use."""

import math


class UnwantError(Exception):
    """A problem with the user's input or environment, with a message that says how to fix it."""


def check_number(value, name: str, low: float, high: float, *, low_open: bool = False, usual: str = "") -> None:
    """A real number from `low` to `high` (above `low` with `low_open`): NaN, infinities and other types are refused."""
    ok = isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)
    ok = ok and (low < value if low_open else low <= value) and value <= high
    if not ok:
        span = f"above {low:g} and up to {high:g}" if low_open else f"from {low:g} to {high:g}"
        raise UnwantError(f"{name} must be a number {span}{f' ({usual})' if usual else ''}, not {value!r}")
