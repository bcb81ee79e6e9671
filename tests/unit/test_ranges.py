"""backend.ranges: the single byte ranges audio players ask for (RFC 9110)."""
from __future__ import annotations

import pytest

from backend.errors import ApiError
from backend.ranges import parse_range


@pytest.mark.parametrize("header, expected", [
    ("bytes=0-99", (0, 99)),
    ("bytes=100-", (100, 999)),
    ("bytes=0-0", (0, 0)),
    ("bytes=999-999", (999, 999)),
    ("bytes=900-5000", (900, 999)),  # an end past the file is cut at its last byte
    ("bytes=-1", (999, 999)),  # suffix: the last N bytes
    ("bytes=-250", (750, 999)),
    ("bytes=-5000", (0, 999)),  # a suffix longer than the file is the whole file
    ("  bytes=10-19  ", (10, 19)),
])
def test_a_single_range_gives_inclusive_start_and_end(header, expected):
    assert parse_range(header, 1000) == expected


@pytest.mark.parametrize("header", [None, "", "bytes=-", "bytes=0-1,5-6", "items=0-5", "bytes=a-b", "bytes 0-5",
                                    # digits other than ASCII ones, which int() would read
                                    "bytes=\u0661-\u0669",
                                    # more digits than any offset, which int() refuses to read
                                    "bytes=" + "9" * 5000 + "-", "bytes=-" + "1" * 5000])
def test_no_multiple_or_malformed_ranges_mean_the_whole_file(header):
    assert parse_range(header, 1000) is None


@pytest.mark.parametrize("header, size", [("bytes=1000-", 1000), ("bytes=1000-1001", 1000), ("bytes=20-10", 1000),
                                          ("bytes=-0", 1000), ("bytes=-5", 0), ("bytes=0-", 0)])
def test_an_unsatisfiable_range_is_a_416_naming_the_size(header, size):
    with pytest.raises(ApiError) as e:
        parse_range(header, size)
    assert e.value.status == 416
    assert e.value.headers == {"Content-Range": f"bytes */{size}"}
