"""HTTP Range requests (a single byte range), as audio players send them."""
from __future__ import annotations

import re

from backend.errors import ApiError

# ASCII digits only, and at most 19 (a byte offset fits; int() of thousands of digits
# raises rather than answering 200 for the whole file).
_RANGE = re.compile(r"^bytes=([0-9]{0,19})-([0-9]{0,19})$")


def parse_range(header: str | None, size: int) -> tuple[int, int] | None:
    """(start, end) inclusive, or None for the whole file; 416 if unsatisfiable."""
    if not header:
        return None
    m = _RANGE.fullmatch(header.strip())
    if not m or (not m.group(1) and not m.group(2)):
        return None  # multiple or malformed ranges: serve the whole file, as RFC 9110 allows
    if not m.group(1):  # suffix: the last N bytes
        n = int(m.group(2))
        if n == 0 or size == 0:
            raise ApiError(416, f"range {header!r} selects no bytes of a {size}-byte file",
                           headers={"Content-Range": f"bytes */{size}"})
        return max(0, size - n), size - 1
    start = int(m.group(1))
    end = int(m.group(2)) if m.group(2) else size - 1
    if start >= size or end < start:
        raise ApiError(416, f"range {header!r} is outside the {size}-byte file",
                       headers={"Content-Range": f"bytes */{size}"})
    return start, min(end, size - 1)
