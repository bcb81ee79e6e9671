"""Allowing ERC-20 tokens on the Marketplace, after a probe that spends nothing.

The Marketplace credits a sale by what its balance grew (so fee-on-transfer tokens are
fine) and pays withdrawals with SafeERC20 (so tokens that return nothing are fine). It
cannot survive a token that reverts on ordinary transfers, answers `false`, or reports
balances that do not follow what was sent: those would lock a sale or make the contract owe
more than it holds. `probe` finds them before the owner allows a token.

How the probe spends nothing: an `eth_call` with a state override puts the `TokenProbe`
contract's runtime code at a holder's address, so the probe runs *as the holder* and its
transfers happen only inside that call. It sends a small amount to a fresh address with
`transfer`, approves itself and sends as much to another fresh address with
`transferFrom`, reading `balanceOf` of both sides before and after each. Judging is done
here, not on chain: each check becomes a line the owner reads.

What no single call can see (rebasing, blocklists, pausing, upgrades) is left to the
README's token policy.
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from eth_abi import decode
from eth_utils import keccak, to_checksum_address

from ninety.contract import Deployment, describe_revert, load_abi
from ninety.errors import ChainError, NinetyError
from ninety.paths import BUILD_DIR
from ninety.reads import calldata, selector

UINT_MAX = 2**256 - 1
# Functions whose presence says the token can change under the Marketplace (not failures:
# notes the owner reads, with the README's token policy). Found by their selector after a
# PUSH4 in the code (the implementation's, for an EIP-1967 proxy).
_PAUSABLE = "the issuer can pause it: while paused, sales and withdrawals in it revert (balances stay owed)"
_BLOCKLIST = ("it has a blocklist: a blocklisted payee must withdrawTo another address, and a blocklisted "
              "Marketplace freezes every balance in it")
_REBASING = "balances look share-based (rebasing): a rebasing token must not be allowed"
_WARNING_SIGNS = {
    "paused()": _PAUSABLE,
    "isBlacklisted(address)": _BLOCKLIST,
    "isBlackListed(address)": _BLOCKLIST,
    "getBlackListStatus(address)": _BLOCKLIST,
    "isBlocklisted(address)": _BLOCKLIST,
    "blocked(address)": _BLOCKLIST,
    "sharesOf(address)": _REBASING,
    "scaledBalanceOf(address)": _REBASING,
    "rebase(uint256,int256)": _REBASING,
}
_EIP1967_IMPLEMENTATION = 0x360894A13BA1A3210667C828492DB98DCA3E2076CC3735A920A3CA505D382BBC
# Whoever "sends" the probe call: not the holder (a sender with code is refused by nodes
# that apply EIP-3607 to calls) and nobody's wallet.
_CALLER = to_checksum_address(keccak(b"ninety token probe caller")[12:])


class TokenError(NinetyError, ValueError):
    """The token cannot be allowed or disallowed as asked."""


class ProbeUnavailable(TokenError):
    """The probe could not run (no state overrides, no balance to move): nothing is known."""


@dataclass(frozen=True)
class Check:
    name: str
    ok: bool
    detail: str


@dataclass
class ProbeReport:
    token: str
    holder: str
    symbol: str | None = None
    decimals: int | None = None
    total_supply: int | None = None
    balance: int = 0
    amount: int = 0
    checks: list[Check] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    @property
    def passed(self) -> bool:
        return all(c.ok for c in self.checks)

    @property
    def failed(self) -> list[Check]:
        return [c for c in self.checks if not c.ok]

    def add(self, name: str, ok: bool, detail: str) -> bool:
        self.checks.append(Check(name, ok, detail))
        return ok


def _call(w3: Any, to: str, data: str) -> bytes | None:
    """An eth_call's answer, or None if it reverted. (Through web3, one at a time: a
    revert here is an answer, which a JSON-RPC batch of reads would turn into an error.)"""
    try:
        return bytes(w3.eth.call({"to": to, "data": data}))
    except Exception:
        return None


def _word(raw: bytes | None) -> int | None:
    return int.from_bytes(raw[:32], "big") if raw is not None and len(raw) >= 32 else None


def _symbol(raw: bytes | None) -> str | None:
    if raw is None or len(raw) < 32:
        return None
    try:
        return str(decode(["string"], raw)[0])
    except Exception:  # bytes32 symbols (MKR-style)
        return raw[:32].rstrip(b"\0").decode("utf-8", "replace") or None


def probe_code() -> str:
    """TokenProbe's runtime code, from the build output (`make build`)."""
    path = BUILD_DIR / "TokenProbe.json"
    try:
        code = json.loads(path.read_text())["deployedBytecode"]
    except FileNotFoundError:
        raise TokenError(f"{path} is missing: run `make build` (brownie compile) first") from None
    return code if code.startswith("0x") else "0x" + code


def fresh_address(token: str, n: int) -> str:
    """A recipient no one holds a key for, different for every token."""
    return to_checksum_address(keccak(b"ninety token probe recipient" + bytes.fromhex(token[2:]) + bytes([n]))[12:])


def require_contract(w3: Any, token: str) -> str:
    if not isinstance(token, str) or len(token) != 42 or not token.startswith("0x"):
        raise TokenError(f"{token!r} is not an address (0x and 40 hex digits)")
    try:
        token = to_checksum_address(token)
    except ValueError:
        raise TokenError(f"{token!r} is not an address (0x and 40 hex digits)") from None
    if int(token, 16) == 0:
        raise TokenError("the zero address stands for ETH, which is always allowed")
    if not w3.eth.get_code(token):
        raise TokenError(f"{token} is not a contract on this chain (no code there): not an ERC-20")
    return token


def warning_signs(w3: Any, token: str) -> list[str]:
    """Notes on what the token's code can do that no probe call shows."""
    code = bytes(w3.eth.get_code(token))
    notes = []
    implementation = int.from_bytes(bytes(w3.eth.get_storage_at(token, _EIP1967_IMPLEMENTATION)), "big")
    if implementation:
        impl = to_checksum_address(implementation.to_bytes(32, "big")[12:])
        notes.append(f"an upgradeable proxy (implementation {impl}): its issuer can change how it behaves after "
                     "you allow it")
        code = bytes(w3.eth.get_code(impl))
    seen = set()
    for signature, note in _WARNING_SIGNS.items():
        if b"\x63" + selector(signature) in code and note not in seen:
            seen.add(note)
            notes.append(f"{signature}: {note}")
    return notes


def probe(w3: Any, token: str, holder: str) -> ProbeReport:
    """Run the probe as `holder`; raises ProbeUnavailable when it cannot run at all."""
    token = require_contract(w3, token)
    holder = to_checksum_address(holder)
    report = ProbeReport(token=token, holder=holder)
    report.symbol = _symbol(_call(w3, token, calldata("symbol()")))
    report.decimals = _word(_call(w3, token, calldata("decimals()")))
    if report.decimals is None or report.decimals > 255:
        report.decimals = None
        report.notes.append("no decimals(): amounts will be shown in the token's base unit")
    report.notes += warning_signs(w3, token)
    report.total_supply = _word(_call(w3, token, calldata("totalSupply()")))
    if report.total_supply is None:
        report.notes.append("no totalSupply()")
    balance = _word(_call(w3, token, calldata("balanceOf(address)", [holder])))
    if not report.add("balanceOf", balance is not None and balance != UINT_MAX,
                      "balanceOf(holder) answers" if balance is not None else "balanceOf(holder) reverts or answers nothing"):
        return report
    assert balance is not None
    report.balance = balance
    if report.total_supply is not None and not report.add(
            "balance within supply", balance <= report.total_supply,
            f"the holder's balance {balance} {'is within' if balance <= report.total_supply else 'exceeds'} "
            f"totalSupply {report.total_supply}"):
        return report
    if balance < 2:
        raise ProbeUnavailable(
            f"the probe holder {holder} holds {'none' if balance == 0 else 'only 1 base unit'} of {token}: "
            "the probe needs a wallet that holds some (pass --probe-holder ADDRESS), or allow it unprobed with --force")
    # Small, and at most half: the probe sends it twice.
    unit = 10 ** min(report.decimals if report.decimals is not None else 0, 77)
    report.amount = amount = max(1, min(balance // 2, unit // 100 or 1))
    first, second = fresh_address(token, 1), fresh_address(token, 2)
    contract = w3.eth.contract(address=holder, abi=load_abi("TokenProbe"))
    data = contract.encode_abi("probe", [token, first, second, amount])
    try:
        raw = bytes(w3.eth.call({"from": _CALLER, "to": holder, "data": data}, "latest",
                                {holder: {"code": probe_code()}}))
    except Exception as e:
        raise ProbeUnavailable(f"this RPC refused an eth_call with a state override ({_short(e)}): the probe cannot "
                               "run here; allow the token unprobed with --force, or use an RPC that supports "
                               "state overrides (Anvil, Geth, Erigon, Reth do)") from None
    try:
        steps = decode(["(bool,bytes,uint256,uint256,uint256,uint256)"] * 3, raw)
    except Exception:
        raise ProbeUnavailable("this RPC ignored the eth_call state override (the probe's answer is not there): "
                               "the probe cannot run here; allow the token unprobed with --force") from None
    _judge_step(report, "transfer", steps[0], amount)
    approve_ok, approve_ret = steps[1][0], bytes(steps[1][1])
    if not approve_ok:
        report.add("approve", False, f"approve reverts: {_reason(approve_ret)}")
    elif _returned_false(approve_ret):
        report.add("approve", False, "approve returns false")
    else:
        report.add("approve", True, "approve succeeds")
    _judge_step(report, "transferFrom", steps[2], amount)
    return report


def _judge_step(report: ProbeReport, name: str, step: tuple[Any, ...], amount: int) -> None:
    ok, returned, sender_before, sender_after, recipient_before, recipient_after = step
    returned = bytes(returned)
    if not ok:
        report.add(name, False, f"{name} of {amount} reverts: {_reason(returned)}")
        return
    if returned and len(returned) < 32:
        report.add(name, False, f"{name} returns {len(returned)} bytes, not a bool")
        return
    if _returned_false(returned):
        report.add(name, False, f"{name} of {amount} returns false instead of reverting or moving the tokens")
        return
    if UINT_MAX in (sender_before, sender_after, recipient_before, recipient_after):
        report.add(name, False, f"balanceOf reverts after {name}")
        return
    how = "returns nothing (USDT-style; SafeERC20 accepts it)" if not returned else "returns true"
    sent = sender_before - sender_after
    got = recipient_after - recipient_before
    if sent != amount:
        report.add(name, False, f"{name} of {amount}: the sender's balance fell by {sent}, not {amount} "
                                "(balances do not follow transfers)")
        return
    if got <= 0 or got > amount:
        report.add(name, False, f"{name} of {amount}: the recipient's balance rose by {got} "
                                f"({'nothing arrived' if got <= 0 else 'more than was sent'}: balances are inconsistent)")
        return
    fee = "" if got == amount else f"; {amount - got} taken on the way (fee on transfer: the Marketplace credits what arrives)"
    report.add(name, True, f"{name} of {amount} {how}; sender -{sent}, recipient +{got}{fee}")


def _returned_false(returned: bytes) -> bool:
    return len(returned) >= 32 and int.from_bytes(returned[:32], "big") == 0


def _reason(data: bytes) -> str:
    if not data:
        return "no reason given"
    if data[:4] == bytes.fromhex("08c379a0"):
        try:
            return repr(decode(["string"], data[4:])[0])
        except Exception:
            pass
    named = describe_revert("0x" + data.hex())
    return named if named != "0x" + data.hex() else f"custom error 0x{data[:4].hex()}" + (
        f" (data 0x{data[4:].hex()})" if len(data) > 4 else "")


def _short(e: Exception) -> str:
    text = str(e.args[0] if e.args else e)
    return text if len(text) <= 200 else text[:200] + "…"


def _market(w3: Any, deployment: Deployment) -> Any:
    return w3.eth.contract(address=to_checksum_address(deployment.address), abi=load_abi("Marketplace"))


def check_owner(w3: Any, deployment: Deployment, sender: str) -> None:
    owner = _market(w3, deployment).functions.owner().call()
    if owner.lower() != sender.lower():
        raise TokenError(f"the key's address {sender} is not the Marketplace owner ({owner}): only the owner "
                         "(NINETY_OWNER_KEY) can allow or disallow tokens")


def is_allowed(w3: Any, deployment: Deployment, token: str) -> bool:
    return bool(_market(w3, deployment).functions.tokenAllowed(to_checksum_address(token)).call())


def set_allowed(w3: Any, deployment: Deployment, owner_key: str, token: str, allowed: bool) -> int:
    """Send setTokenAllowed(token, allowed) from the owner key; returns the block number."""
    from eth_account import Account

    sender = Account.from_key(owner_key)
    fn = _market(w3, deployment).functions.setTokenAllowed(to_checksum_address(token), allowed)
    try:
        fn.call({"from": sender.address})  # a revert says why, for free
    except Exception as e:
        data = e.args[0] if e.args and isinstance(e.args[0], str) else str(e)
        raise TokenError(f"setTokenAllowed({token}, {str(allowed).lower()}) would revert: {describe_revert(data)}") from None
    tx = fn.build_transaction({"from": sender.address, "nonce": w3.eth.get_transaction_count(sender.address, "pending")})
    receipt = w3.eth.wait_for_transaction_receipt(
        w3.eth.send_raw_transaction(sender.sign_transaction(tx).raw_transaction), timeout=120)
    if receipt["status"] != 1:
        raise ChainError(f"the transaction reverted ({receipt['transactionHash'].hex()})")
    return int(receipt["blockNumber"])
