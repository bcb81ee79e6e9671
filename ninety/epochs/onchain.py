"""What an epoch's rule needs, read from the chain alone: the clock, the committed rules
document, every recorded download judged at its block, every qualifying sale, and what the
contract's events recorded when the epoch was published."""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any, Iterable

from eth_abi import decode
from eth_utils import keccak

from ninety.attest import recover_free_download
from ninety.contract import ETH
from ninety.epochs.allocation import Listen, Purchase
from ninety.epochs.rules import EpochClock, Rules
from ninety.reads import Read, eth_call, read_many

SALE = "0x" + keccak(text="Sale(uint256,address,address,uint256,uint256,bytes32)").hex()
EPOCH_PUBLISHED = "0x" + keccak(text="EpochPublished(uint256,bytes32,bytes32,string)").hex()
POOL_SETTLED = "0x" + keccak(text="PoolSettled(uint256,address,uint256,uint256,uint256,uint256,uint256)").hex()
SPLIT_CREATED = "0x" + keccak(text="SplitCreated(bytes32,address[],uint32[])").hex()


def _topic_address(address: str) -> str:
    return "0x" + "00" * 12 + address.lower()[2:]


def split_data(rpc: Any, contract: str, split_id: str, from_block: int = 0,
               to_block: int | None = None) -> tuple[list[str], list[int]]:
    """A split's recipients (lowercase) and shares, from its SplitCreated log: the contract
    keeps only a hash of them (the log's data is exactly the encoding that hashes to the id,
    which is checked here)."""
    split_id = split_id.lower()
    end = rpc.block_number() if to_block is None else to_block
    for log in rpc.get_logs(contract, from_block, end, [SPLIT_CREATED, split_id]):
        if log.get("removed"):
            continue
        data = bytes.fromhex(log["data"][2:])
        if "0x" + keccak(data).hex() != split_id:
            continue
        recipients, shares = decode(["address[]", "uint32[]"], data)
        return [r.lower() for r in recipients], [int(s) for s in shares]
    raise LookupError(f"no SplitCreated log of {contract} names split {split_id}")


class ChainView:
    """What the rule needs, read from the chain alone (splits are immutable: cached).
    `from_block` (the deployment's block) bounds the search for SplitCreated logs."""

    def __init__(self, rpc: Any, contract: str, from_block: int = 0) -> None:
        self.rpc = rpc
        self.contract = contract
        self.from_block = from_block
        self._splits: dict[str, set[str]] = {}
        self._times: dict[int, int] = {}

    def payees(self, split_id: str) -> set[str]:
        if split_id not in self._splits:
            recipients, _ = split_data(self.rpc, self.contract, split_id, self.from_block)
            self._splits[split_id] = {r.lower() for r in recipients}
        return self._splits[split_id]

    def block_time(self, number: int) -> int:
        if number not in self._times:
            (header,) = self.rpc.headers([number])
            self._times[number] = int(header["timestamp"], 16)
        return self._times[number]

    def listen(self, clock: EpochClock, epoch: int, wallet: str, track_id: int, signature: str,
               block_number: int, chain_id: int) -> Listen:
        """A recorded download judged at its block: signature, timing and the track's state."""
        wallet = wallet.lower()
        artist, split, token, price, listed, blocked = eth_call(
            self.rpc, self.contract, "tracks(uint256)", [track_id],
            ["address", "bytes32", "address", "uint256", "bool", "bool"], block_number)
        split_id = "0x" + bytes(split).hex()
        why, impossible = "", True
        if recover_free_download(chain_id, self.contract, track_id, epoch, signature) != wallet:
            why = "the signature is not this wallet's FreeDownload(track, epoch)"
        elif clock.epoch_at(self.block_time(block_number)) != epoch or self.block_time(block_number) < clock.start:
            why = f"recorded at block {block_number}, outside epoch {epoch}"
        elif int(artist, 16) == 0:
            why = "the track did not exist at the recorded block"
        else:
            impossible = False  # what follows the API may judge differently (its ledger can lag)
            if token.lower() != ETH or price != 0 or not listed:
                why = "the track was not free at the recorded block"
            elif blocked:
                why = "the track was blocked at the recorded block"
            elif wallet in self.payees(split_id):
                why = "the track's split pays this listener"
        return Listen(wallet, track_id, signature, block_number, split_id, not why, why, bool(why) and impossible)

    def purchases(self, clock: EpochClock, epoch: int, window: int, wallets: Iterable[str], from_block: int,
                  to_block: int) -> list[Purchase]:
        """Every Sale bought by `wallets` in the window from splits that do not pay the buyer."""
        wanted = sorted({w.lower() for w in wallets})
        start, end = clock.window(epoch, window)
        out = []
        for i in range(0, len(wanted), 50):
            topics = [SALE, None, [_topic_address(w) for w in wanted[i:i + 50]]]
            logs = self.rpc.get_logs(self.contract, from_block, to_block, topics)  # ranges fit to the provider
            for log in logs:
                if log.get("removed"):
                    continue
                number = int(log["blockNumber"], 16)
                when = self.block_time(number)
                if not start <= when < end:
                    continue
                buyer = "0x" + log["topics"][2][-40:].lower()
                amount, fee, split = decode(["uint256", "uint256", "bytes32"], bytes.fromhex(log["data"][2:]))
                if buyer in self.payees("0x" + bytes(split).hex()):
                    continue  # buying from a split that pays you back proves nothing
                out.append(Purchase(buyer, log["transactionHash"].lower(), int(log["logIndex"], 16),
                                    int(log["topics"][1], 16), "0x" + log["topics"][3][-40:].lower(),
                                    int(amount), int(fee), when))
        return out

    def pools(self, epoch: int, block: int | str = "latest") -> list[tuple[str, int]]:
        (tokens,) = eth_call(self.rpc, self.contract, "poolTokens(uint256)", [epoch], ["address[]"], block)
        balances = read_many(self.rpc, [Read(self.contract, "poolBalance(uint256,address)", (epoch, t)) for t in tokens],
                             block)
        return [(t.lower(), int(balance)) for t, (balance,) in zip(tokens, balances)]

    def rules_hash(self, epoch: int) -> str:
        (h,) = eth_call(self.rpc, self.contract, "poolRulesHash(uint256)", [epoch], ["bytes32"])
        return "0x" + bytes(h).hex()


POOL_RULES_SET = "0x" + keccak(text="PoolRulesSet(uint256,bytes32,string)").hex()


def rules_document(rpc: Any, ipfs: Any, contract: str, epoch: int, from_block: int) -> dict[str, Any]:
    """The rules committed for `epoch`: found by the hash the contract holds, fetched from
    IPFS by the CID its `PoolRulesSet` event named, and checked against the hash."""
    want = ChainView(rpc, contract).rules_hash(epoch)
    if int(want, 16) == 0:
        raise LookupError(f"no pool rules are committed for epoch {epoch}")
    logs = rpc.get_logs(contract, from_block, rpc.block_number(), [POOL_RULES_SET])
    for log in reversed(logs):
        rules_hash_, cid = decode(["bytes32", "string"], bytes.fromhex(log["data"][2:]))
        if "0x" + rules_hash_.hex() == want:
            data = ipfs.cat(cid)
            if "0x" + keccak(data).hex() != want:
                raise LookupError(f"the rules at {cid} do not hash to the committed {want}")
            rules: dict[str, Any] = json.loads(data)
            Rules.parse(rules)
            return rules
    raise LookupError(f"no PoolRulesSet event names the committed rules {want}")


def gather(view: ChainView, *, chain_id: int, clock: EpochClock, epoch: int, rules: Rules,
           records: Iterable[tuple[str, int, str, int]], from_block: int, to_block: int) -> tuple[list[Listen], list[Purchase]]:
    """`records`: (wallet, track, signature, block) as recorded; judged against the chain."""
    listens = [view.listen(clock, epoch, w, t, s, b, chain_id) for w, t, s, b in records]
    purchases = view.purchases(clock, epoch, rules.window, {x.wallet for x in listens}, from_block, to_block)
    return listens, purchases


def clock_of(rpc: Any, contract: str) -> EpochClock:
    (start,) = eth_call(rpc, contract, "epochStart()", out=["uint256"])
    (seconds,) = eth_call(rpc, contract, "epochSeconds()", out=["uint32"])
    return EpochClock(int(start), int(seconds))


@dataclass
class Published:
    root: str
    listens_root: str
    report_cid: str
    block_number: int
    settled: dict[str, dict[str, int]] = field(default_factory=dict)


def published_epoch(rpc: Any, contract: str, epoch: int, from_block: int) -> Published:
    """What the contract's events recorded for `epoch`'s publication."""
    topic = "0x" + epoch.to_bytes(32, "big").hex()
    head = rpc.block_number()
    logs = rpc.get_logs(contract, from_block, head, [[EPOCH_PUBLISHED, POOL_SETTLED], topic])
    found: Published | None = None
    settled: dict[str, dict[str, int]] = {}
    for log in logs:
        data = bytes.fromhex(log["data"][2:])
        if log["topics"][0].lower() == EPOCH_PUBLISHED:
            root, listens_root, cid = decode(["bytes32", "bytes32", "string"], data)
            found = Published("0x" + root.hex(), "0x" + listens_root.hex(), cid, int(log["blockNumber"], 16))
        else:
            token = "0x" + log["topics"][2][-40:].lower()
            pool, allocated, fee, carried, to = decode(["uint256"] * 5, data)
            settled[token] = {"pool": pool, "allocated": allocated, "platform_fee": fee, "carried_over": carried,
                              "carried_to_epoch": to}
    if found is None:
        raise LookupError(f"epoch {epoch} has not been published by {contract}")
    found.settled = settled
    return found
