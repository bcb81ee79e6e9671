"""Sending Marketplace transactions from Python (web3.py): the demo seeder, the tests and
the benchmarks drive the real contract through this, from unlocked dev accounts or keys."""
from __future__ import annotations

import json
from typing import Any, Sequence

from eth_abi import decode
from eth_account import Account
from web3 import Web3
from web3.contract import Contract

from ninety.contract import ETH, load_abi
from ninety.epochs.onchain import SPLIT_CREATED
from ninety.epochs.rules import canonical, default_rules, rules_cid, rules_hash
from ninety.paths import BUILD_DIR
from ninety.rpc_limits import http_provider
from ninety.splits import sorted_split


def web3_for(url: str) -> Web3:
    return Web3(http_provider(url, timeout=30))  # paced (NINETY_RPC_RPS), waits out 429 and -32005


def bytecode(name: str) -> str:
    return str(json.loads((BUILD_DIR / f"{name}.json").read_text())["bytecode"])


def split_tuple(data: tuple[Sequence[str], Sequence[int]]) -> tuple[list[str], list[int]]:
    """Split data as the contract takes it (checksummed addresses, in the split's order)."""
    return [Web3.to_checksum_address(r) for r in data[0]], [int(s) for s in data[1]]


PERMIT_TYPES = {"Permit": [
    {"name": "owner", "type": "address"}, {"name": "spender", "type": "address"}, {"name": "value", "type": "uint256"},
    {"name": "nonce", "type": "uint256"}, {"name": "deadline", "type": "uint256"}]}
_DOMAIN_FIELDS = ("name", "version", "chainId", "verifyingContract", "salt")


def permit_domain(token: Contract) -> dict[str, Any]:
    """The token's EIP-712 domain as EIP-5267 `eip712Domain()` gives it (the fields its bit
    mask names). ValueError unless it names this very token on this chain: the token
    answers the domain itself, and a token naming another token's domain would get a permit
    signed that is valid on that other token."""
    fields, *values = token.functions.eip712Domain().call()[:6]
    bits = fields[0] if isinstance(fields, (bytes, bytearray)) else int(fields)
    domain = {k: v for i, (k, v) in enumerate(zip(_DOMAIN_FIELDS, values)) if bits & (1 << i)}
    if str(domain.get("verifyingContract", "")).lower() != str(token.address).lower() \
            or domain.get("chainId") != token.w3.eth.chain_id:
        raise ValueError(f"token {token.address}'s EIP-712 domain names another contract or chain: no permit signed "
                         f"({domain.get('verifyingContract')}, chain {domain.get('chainId')})")
    return domain


def sign_permit(key: str, token: Contract, owner: str, spender: str, value: int,
                deadline: int) -> tuple[int, bytes, bytes]:
    """An EIP-2612 permit for `spender` to take `value` of `owner`'s tokens until `deadline`,
    signed with `owner`'s key: (v, r, s) as `buyWithPermit` takes them."""
    message = {"owner": Web3.to_checksum_address(owner), "spender": Web3.to_checksum_address(spender), "value": value,
               "nonce": token.functions.nonces(Web3.to_checksum_address(owner)).call(), "deadline": deadline}
    signed = Account.sign_typed_data(key, domain_data=permit_domain(token), message_types=PERMIT_TYPES,
                                     message_data=message)
    return signed.v, signed.r.to_bytes(32, "big"), signed.s.to_bytes(32, "big")


class Market:
    def __init__(self, w3: Web3, address: str, from_block: int = 0) -> None:
        self.w3 = w3
        self.contract: Contract = w3.eth.contract(address=Web3.to_checksum_address(address), abi=load_abi("Marketplace"))
        self.from_block = from_block  # where to look for SplitCreated logs
        self._splits: dict[str, tuple[list[str], list[int]]] = {}

    @property
    def address(self) -> str:
        return str(self.contract.address)

    def send(self, fn: Any, sender: str, value: int = 0) -> Any:
        """Send from an account the node holds unlocked (a dev chain); wait for the receipt."""
        tx_hash = fn.transact({"from": Web3.to_checksum_address(sender), "value": value})
        receipt = self.w3.eth.wait_for_transaction_receipt(tx_hash, timeout=60)
        if receipt["status"] != 1:
            raise RuntimeError(f"transaction {tx_hash.hex()} reverted")
        return receipt

    def create_split(self, pairs: Sequence[tuple[str, int]], sender: str) -> str:
        recipients, shares = sorted_split(pairs)
        fn = self.contract.functions.createSplit(recipients, shares)
        split_id = "0x" + bytes(fn.call({"from": Web3.to_checksum_address(sender)})).hex()
        self.send(fn, sender)
        self._splits[split_id] = (recipients, shares)
        return split_id

    def split_data(self, split_id: str) -> tuple[list[str], list[int]]:
        """(recipients, shares) of a split: the contract keeps only their hash, so they come
        from its SplitCreated log (or from this object, for splits it created)."""
        split_id = "0x" + split_id.lower().removeprefix("0x")
        if split_id not in self._splits:
            logs = self.w3.eth.get_logs({"address": self.contract.address, "fromBlock": self.from_block,
                                         "toBlock": "latest", "topics": [SPLIT_CREATED, split_id]})
            if not logs:
                raise LookupError(f"no SplitCreated log names split {split_id}")
            recipients, shares = decode(["address[]", "uint32[]"], bytes(logs[0]["data"]))
            self._splits[split_id] = split_tuple((recipients, shares))
        return self._splits[split_id]

    def track_split(self, track_id: int) -> str:
        return "0x" + bytes(self.contract.functions.tracks(track_id).call()[1]).hex()

    def update_track(self, track_id: int, price: int, listed: bool, artist: str) -> Any:
        return self.send(self.contract.functions.updateTrack(track_id, price, listed), artist)

    def propose_split(self, track_id: int, split_id: str, artist: str) -> bool:
        """Ask to move the track's sales to split `split_id`; True if it moved at once (no
        payee loses share), False if it now waits for the losers' consent."""
        fn = self.contract.functions.proposeSplit(track_id, self.split_data(self.track_split(track_id)),
                                                  self.split_data(split_id))
        changed = bool(fn.call({"from": Web3.to_checksum_address(artist)}))
        self.send(fn, artist)
        return changed

    def accept_split(self, track_id: int, split_id: str, payee: str) -> bool:
        """Consent, as a payee losing share, to the proposal; True if that made the change."""
        fn = self.contract.functions.acceptSplit(track_id, split_id)
        changed = bool(fn.call({"from": Web3.to_checksum_address(payee)}))
        self.send(fn, payee)
        return changed

    def cancel_split_proposals(self, track_id: int, artist: str) -> Any:
        """Withdraw every pending split-change proposal of the track (its artist only)."""
        return self.send(self.contract.functions.cancelSplitProposals(track_id), artist)

    def pending_split_change(self, track_id: int, split_id: str, payee: str) -> tuple[int, bool]:
        missing, must = self.contract.functions.pendingSplitChange(track_id, split_id,
                                                                   Web3.to_checksum_address(payee)).call()
        return int(missing), bool(must)

    def register(self, cid: str, split_id: str, token: str, price: int, artist: str, attestation: str | bytes = b"") -> int:
        """List a track; `attestation` is the catalog signer's (none needed while no signer is set)."""
        if isinstance(attestation, str):
            attestation = bytes.fromhex(attestation.removeprefix("0x"))
        fn = self.contract.functions.registerTrack(cid, split_id, Web3.to_checksum_address(token), price, attestation)
        track_id = int(fn.call({"from": Web3.to_checksum_address(artist)}))
        self.send(fn, artist)
        return track_id

    def register_release(self, cid: str, split_id: str, token: str, price: int, track_ids: Sequence[int], artist: str,
                         attestation: str | bytes = b"") -> int:
        """List a release of `artist`'s tracks (in order); the new release's id."""
        if isinstance(attestation, str):
            attestation = bytes.fromhex(attestation.removeprefix("0x"))
        fn = self.contract.functions.registerRelease(cid, split_id, Web3.to_checksum_address(token), price,
                                                     list(track_ids), attestation)
        release_id = int(fn.call({"from": Web3.to_checksum_address(artist)}))
        self.send(fn, artist)
        return release_id

    def buy_with_permit(self, listing_id: int, amount: int, buyer: str, key: str, token: Contract) -> Any:
        """Buy in one transaction with a permit `buyer` signs for this purchase (valid 30 minutes)."""
        deadline = int(self.w3.eth.get_block("latest")["timestamp"]) + 1800
        v, r, s = sign_permit(key, token, buyer, self.address, amount, deadline)
        return self.send(self.contract.functions.buyWithPermit(listing_id, amount, deadline, v, r, s), buyer)

    def buy(self, track_id: int, amount: int, buyer: str, token: str = ETH) -> Any:
        return self.send(self.contract.functions.buy(track_id, amount), buyer, amount if token == ETH else 0)

    def distribute(self, split_id: str, token: str, *args: Any) -> Any:
        """distribute(split_id, token, recipients, shares, sender), or
        distribute(split_id, token, sender) with the split's data looked up. With nothing
        to distribute it is a no-op on chain (no event), not a revert."""
        if len(args) == 3:
            recipients, shares = split_tuple((args[0], args[1]))
            sender = args[2]
        elif len(args) == 1:
            (recipients, shares), sender = self.split_data(split_id), args[0]
        else:
            raise TypeError("distribute(split_id, token, [recipients, shares,] sender)")
        return self.send(self.contract.functions.distribute(split_id, Web3.to_checksum_address(token), recipients,
                                                            shares), sender)

    def withdraw(self, account: str, tokens: Sequence[str], sender: str) -> Any:
        return self.send(self.contract.functions.withdraw(
            Web3.to_checksum_address(account), [Web3.to_checksum_address(t) for t in tokens]), sender)

    def withdraw_to(self, to: str, tokens: Sequence[str], account: str) -> Any:
        """Pay everything `account` (the sender) is owed in `tokens` to `to`."""
        return self.send(self.contract.functions.withdrawTo(
            Web3.to_checksum_address(to), [Web3.to_checksum_address(t) for t in tokens]), account)

    def deposit_to_pool(self, epoch: int, token: str, amount: int, sponsor: str) -> Any:
        return self.send(self.contract.functions.depositToPool(epoch, Web3.to_checksum_address(token), amount),
                         sponsor, amount if token == ETH else 0)

    def publish_epoch(self, epoch: int, root: bytes, listens_root: bytes, report_cid: str, allocated: Sequence[int],
                      fees: Sequence[int], owner: str) -> Any:
        return self.send(self.contract.functions.publishEpoch(
            epoch, root, listens_root, report_cid, list(allocated), list(fees)), owner)

    def set_pool_rules(self, rules_hash: bytes, rules_cid: str, owner: str) -> Any:
        return self.send(self.contract.functions.setPoolRules(rules_hash, rules_cid), owner)

    def claim_from_pool(self, epoch: int, allocation: Any, proof: Sequence[bytes], sender: str) -> Any:
        return self.send(self.contract.functions.claimFromPool(
            epoch, allocation.split_id, Web3.to_checksum_address(allocation.token), allocation.amount, list(proof)), sender)

    def set_catalog_signer(self, signer: str, owner: str) -> Any:
        return self.send(self.contract.functions.setCatalogSigner(Web3.to_checksum_address(signer)), owner)

    def block_track(self, track_id: int, reason_cid: str, owner: str) -> Any:
        return self.send(self.contract.functions.blockTrack(track_id, reason_cid), owner)

    def unblock_track(self, track_id: int, reason_cid: str, owner: str) -> Any:
        return self.send(self.contract.functions.unblockTrack(track_id, reason_cid), owner)

    def owed(self, account: str, token: str) -> int:
        return int(self.contract.functions.owed(Web3.to_checksum_address(account), Web3.to_checksum_address(token)).call())


def deploy_direct(w3: Web3, owner: str, fee_recipient: str, fee_bps: int = 500, epoch_seconds: int = 3600,
                  rules: dict[str, Any] | None = None, pin: Any = None) -> tuple[Market, Contract]:
    """Deploy Marketplace and an allowed MockUSDC with web3 alone (tests, benchmarks), and
    commit pool rules (by default `ninety.epochs.rules.default_rules` for ETH and the USDC) for
    epoch 0 on. `pin(bytes) -> cid` puts the rules on IPFS (e.g. `Ipfs.add_bytes`); without
    it the CID is computed locally and nothing is pinned. Real deployments go through
    Brownie (`ninety deploy`)."""
    owner = Web3.to_checksum_address(owner)

    def deploy(name: str, *args: Any) -> Contract:
        factory = w3.eth.contract(abi=load_abi(name), bytecode=bytecode(name))
        receipt = w3.eth.wait_for_transaction_receipt(factory.constructor(*args).transact({"from": owner}))
        return w3.eth.contract(address=receipt["contractAddress"], abi=load_abi(name))

    start = w3.eth.block_number + 1
    market_contract = deploy("Marketplace", Web3.to_checksum_address(fee_recipient), fee_bps, epoch_seconds)
    usdc = deploy("MockUSDC")
    market = Market(w3, market_contract.address, from_block=start)
    market.send(market.contract.functions.setTokenAllowed(usdc.address, True), owner)
    rules = rules if rules is not None else default_rules(fee_bps, {ETH: 10**15, usdc.address: 10**6})
    body = canonical(rules)
    market.set_pool_rules(rules_hash(rules), pin(body) if pin is not None else rules_cid(body), owner)
    return market, usdc
