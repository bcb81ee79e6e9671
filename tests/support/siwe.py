"""Sign-In with Ethereum as the web app does it, for a dev-mnemonic wallet."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone
from typing import Any

from eth_account import Account
from eth_account.messages import encode_defunct

from ninety.cli.shared import dev_account
from ninety.config import DEV_MNEMONIC

# The origin the servers under test are told they answer at (NINETY_PUBLIC_URL).
PUBLIC_URL = "http://127.0.0.1:8000"


def sign_in(index: int, nonce: str, **overrides: Any) -> tuple[str, str]:
    """(message, signature) of dev account `index` for `nonce`, valid for an hour;
    `overrides` replace any SIWE field."""
    from siwe import SiweMessage  # lazy: importing siwe builds its ABNF grammar (about 1 s)

    address, key = dev_account(DEV_MNEMONIC, index)
    now = datetime.now(timezone.utc)
    fields = dict(domain="127.0.0.1:8000", address=address, uri=PUBLIC_URL, version="1", chain_id=31337,
                  nonce=nonce, issued_at=now.isoformat().replace("+00:00", "Z"),
                  expiration_time=(now + timedelta(hours=1)).isoformat().replace("+00:00", "Z"),
                  statement="Sign in to Ninety")
    fields.update(overrides)
    message = SiweMessage(**fields).prepare_message()
    signature = Account.sign_message(encode_defunct(text=message), key).signature.hex()
    return message, "0x" + signature.removeprefix("0x")
