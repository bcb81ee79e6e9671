"""What a display name may be (backend/names.py): it stands in for an address on every
page, so it must show something, must not look like an address (the web app's stand-in
for an address without a name is one) and must not mix look-alike scripts. And the
validators match whole values: Python's `$` also matches before a final newline."""
from __future__ import annotations

import pytest

from backend import validators
from backend.errors import ApiError
from backend.names import name_problem, normal_name

ADDRESS = "0x70997970C51812dc3A010C7d01b50e0d17dc79C8"


@pytest.mark.parametrize("name", [
    "Ada Lovetone", "Björk", "Sigur Rós", "ПЁТР", "Ado 愛", "กี่", "Foxface", "Boxcar 0x12", "0xA", ".", "A-ha!",
    "Ω",  # one script, whatever it is
])
def test_ordinary_names_are_allowed(name):
    assert name_problem(normal_name(name)) is None


@pytest.mark.parametrize("name, why", [
    (ADDRESS, "wallet address"),
    (ADDRESS.lower(), "wallet address"),
    ("0x7099…79C8", "wallet address"),  # the web app's short form (NFKC makes … ...)
    ("0x7099...79C8", "wallet address"),
    ("Official 0x7099", "wallet address"),  # anywhere: a cut-off name still shows it
    ("Ox7099…79C8", "wallet address"),  # a letter O for the zero, where a word starts
    ("０ｘ７０９９", "wallet address"),  # fullwidth: NFKC first
    ("0\u04457099\u202679\u04418", "wallet address"),  # Cyrillic х and с
    ("Ada Lovet\u043ene", "Cyrillic and Latin"),
    ("\u0391da Lovetone", "Greek and Latin"),
    ("\u3164", "blank"), ("\u2800", "blank"), ("\u115f\u1160", "blank"), ("Ada\u3164Lovetone", "blank"),
    ("\u0301\u0301", "visible"),
    ("x" + "\u0300\u0301\u0302\u0303", "combining marks"), ("M" + "\u0336" * 80, "combining marks"),
])
def test_names_that_pass_for_something_else_are_refused(name, why):
    problem = name_problem(normal_name(name))
    assert problem is not None and why in problem, (name, problem)


def test_names_are_normalised_as_a_page_shows_them():
    assert normal_name("  \U0001d400\U0001d41d\U0001d41a   Lovetone ") == "Ada Lovetone"  # mathematical bold
    assert normal_name("Ｆｕｌｌ\u3000Width") == "Full Width"


def test_a_trailing_newline_is_not_part_of_an_address_or_a_transaction_hash():
    assert validators.address(ADDRESS, "address") == ADDRESS.lower()
    assert validators.tx_hash("0x" + "ab" * 32) == "0x" + "ab" * 32
    with pytest.raises(ApiError, match="not an address"):
        validators.address(ADDRESS + "\n", "address")
    with pytest.raises(ApiError, match="not a transaction hash"):
        validators.tx_hash("0x" + "ab" * 32 + "\n")
