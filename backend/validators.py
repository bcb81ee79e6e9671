"""Validators for the values clients send in paths, query strings and form fields, shared
by the routers so that every endpoint refuses the same input with the same words (422)."""
from __future__ import annotations

import re
from typing import Any

from starlette.datastructures import UploadFile

from backend.errors import ApiError
from backend.names import name_problem, normal_name

# Match these with .fullmatch, never .match: in Python's re, `$` also matches before a
# final newline, so .match let "0x…\n" through as an address. The `^…$` text stays
# because pools.py hands ADDRESS.pattern to pydantic, whose (Rust) regex engine reads `$`
# as the end of the text and has no `\Z`.
ADDRESS = re.compile(r"^0x[0-9a-fA-F]{40}$")
TX_HASH = re.compile(r"^0x[0-9a-fA-F]{64}$")


def address(value: str | None, name: str) -> str | None:
    """`value` lower-cased when it is an address, None when absent; 422 otherwise."""
    if value is None:
        return None
    if not ADDRESS.fullmatch(value):
        raise ApiError(422, f"{name} {value!r} is not an address (0x followed by 40 hex digits)")
    return value.lower()


def tx_hash(value: str) -> str:
    """`value` lower-cased when it is a transaction hash; 422 otherwise."""
    if not TX_HASH.fullmatch(value):
        raise ApiError(422, f"{value!r} is not a transaction hash (0x followed by 64 hex digits)")
    return value.lower()


def artist_name(raw: str, field: str = "artist_name") -> str:
    """A listing's artist name as it is pinned: held to the display-name rules a profile
    name obeys (backend/names.py), because the listing's JSON shows it as it is, wherever
    it is read; NFKC-normalised with single spaces, as profile names are saved."""
    name = normal_name(raw)
    problem = name_problem(name) if name else None
    if problem:
        raise ApiError(422, f"{field} {problem}")
    return name


def form_text(form: Any, name: str, *, required: bool = False, max_len: int = 300) -> str:
    """A multipart form's text field `name`, stripped; 422 for a file in its place, a
    missing required value or more than `max_len` characters."""
    value = form.get(name)
    if isinstance(value, UploadFile):
        raise ApiError(422, f"{name} must be a text field, not a file")
    value = (value or "").strip()
    if required and not value:
        raise ApiError(422, f"{name} is required")
    if len(value) > max_len:
        raise ApiError(422, f"{name} is longer than {max_len} characters")
    return value
