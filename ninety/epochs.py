"""Sponsor-pool epochs: the allocation rule, the report, and re-checking a published epoch.

This module is the one place the off-chain rule lives; `ninety epoch close` builds the
report with `compute`, and `ninety verify epoch` re-runs the same `compute` on inputs it
gathers from the chain alone. The rule, per epoch `e` and pool token:

- Epochs are windows of block time: epoch `e` is [epochStart + e*epochSeconds,
  epochStart + (e+1)*epochSeconds), both read from the contract.
- The rules (qualifying amount per token, window, multiplier `m`, fee rate) are committed
  on chain before the epoch starts (`setPoolRules`); the report's rules must hash to it.
- A listener counts a free download by signing FreeDownload(trackId, e) (EIP-712). The
  download is eligible if, at the block the API recorded it in (inside epoch `e`), the
  track was free (ETH, price 0), listed, not blocked and its split did not pay the
  listener, and the API judged the recording genuine (fingerprints: the trusted part).
- A wallet qualifies in `e` if in epochs e-3..e it bought (as `buyer` of a `Sale`) a
  listing whose split does not pay it, at least once for at least the qualifying amount
  of that sale's token.
- Each qualified listener with at least one eligible download directs an equal share
  D / N of each token's distributable pool D = floor(pool * (10000 - fee_bps) / 10000),
  capped at floor(m * fees it paid in that token in e-3..e / window), spread evenly over
  the distinct tracks it downloaded (each part to the track's split as of the download).
- fee = floor(allocated * fee_bps / (10000 - fee_bps)); carry-over = pool - allocated - fee
  (the contract moves it to the epoch current at publication).
With m = 1 a ring of fake listeners buying from an accomplice directs at most the fees it
paid the platform (divided over the window), so farming a pool never pays.
"""
from __future__ import annotations

import json
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any, Callable, Iterable, Sequence

from eth_abi import decode, encode
from eth_utils import keccak

from ninety.merkle import Allocation, LeafTree, MerkleTree, leaf, listen_leaf, verify

ETH = "0x" + "00" * 20
NO_SPLIT = "0x" + "00" * 32
ZERO_ROOT = "0x" + "00" * 32
WINDOW_EPOCHS = 4
MAX_BPS = 10_000

RULE_TEXT = {
    "epochs": "epoch e is [epochStart + e*epochSeconds, epochStart + (e+1)*epochSeconds) of block time",
    "signature": "a listener signs EIP-712 FreeDownload(uint256 trackId,uint256 epoch) on the Marketplace's domain",
    "eligible": "at the recorded block (inside the epoch) the track is ETH-priced at 0, listed, not blocked, its split "
                "does not pay the listener, and the API judged its recording genuine",
    "qualified": "in epochs e-(window-1)..e the listener was the buyer of a Sale whose split does not pay it, "
                 "for at least qualifying_amount of that sale's token",
    "weights": "each qualified listener with an eligible download directs floor(D / N) of each token's "
               "D = floor(pool * (10000 - platform_fee_bps) / 10000), at most floor(multiplier * platform fees it paid "
               "in that token in the window / window), split evenly (rounding down) over the distinct tracks it "
               "downloaded, each part to the track's split",
    "platform_fee": "floor(allocated * platform_fee_bps / (10000 - platform_fee_bps)); nothing allocated, no fee",
    "carry_over": "pool - allocated - platform_fee moves to the epoch current at publication",
    "leaf": "keccak256(keccak256(abi.encode(uint256 epoch, bytes32 splitId, address token, uint256 amount)))",
    "listen_leaf": "keccak256(keccak256(abi.encode(uint256 epoch, address wallet, uint256 trackId)))",
    "tree": "leaves sorted ascending; inner node = keccak256(min(a, b) ++ max(a, b)); a lone node moves up",
    "empty_epoch": "without any allocation the root is that of one allocation of 0 to split 0x00…00 (unclaimable)",
}


# ------------------------------------------------------------------ rules

def default_rules(fee_bps: int, qualifying: dict[str, int], multiplier: int = 1) -> dict[str, Any]:
    """The rules `ninety deploy` commits: `qualifying` maps token -> smallest qualifying sale."""
    return {
        "version": 2,
        "window_epochs": WINDOW_EPOCHS,
        "multiplier": multiplier,
        "platform_fee_bps": fee_bps,
        "qualifying_amount": {t.lower(): str(a) for t, a in sorted(qualifying.items())},
        "text": RULE_TEXT,
    }


def canonical(rules: dict[str, Any]) -> bytes:
    """The bytes whose keccak256 is committed on chain (and pinned as the rules' CID)."""
    return json.dumps(rules, sort_keys=True, separators=(",", ":"), ensure_ascii=True).encode()


def rules_hash(rules: dict[str, Any]) -> bytes:
    return bytes(keccak(canonical(rules)))


def rules_cid(data: bytes) -> str:
    """The CID IPFS gives `data` (CIDv1, raw leaves), computed locally."""
    from ninety.ipfs import local_cid

    return local_cid(data)


@dataclass(frozen=True)
class Rules:
    window: int
    multiplier: int
    fee_bps: int
    qualifying: dict[str, int]

    @classmethod
    def parse(cls, rules: dict[str, Any]) -> "Rules":
        try:
            parsed = cls(window=int(rules["window_epochs"]), multiplier=int(rules["multiplier"]),
                         fee_bps=int(rules["platform_fee_bps"]),
                         qualifying={t.lower(): int(a) for t, a in dict(rules["qualifying_amount"]).items()})
        except (KeyError, TypeError, ValueError, AttributeError) as e:
            raise ValueError(f"these are not Ninety pool rules: {e!r}") from None
        if not 1 <= parsed.window <= 52 or parsed.multiplier < 0 or not 0 <= parsed.fee_bps <= 1000:
            raise ValueError("pool rules out of range: window 1-52 epochs, multiplier >= 0, fee at most 1000 bps")
        if any(a <= 0 for a in parsed.qualifying.values()):
            raise ValueError("a qualifying amount must be above zero")
        return parsed


# ------------------------------------------------------------------ time

@dataclass(frozen=True)
class EpochClock:
    start: int
    seconds: int

    def epoch_at(self, timestamp: int) -> int:
        return max(0, (timestamp - self.start) // self.seconds)

    def start_of(self, epoch: int) -> int:
        return self.start + max(0, epoch) * self.seconds

    def end_of(self, epoch: int) -> int:
        """The first second after `epoch` (exclusive end)."""
        return self.start + (epoch + 1) * self.seconds

    def window(self, epoch: int, epochs: int) -> tuple[int, int]:
        """[start, end) of block time covering epochs epoch-(epochs-1)..epoch."""
        return self.start_of(epoch - epochs + 1), self.end_of(epoch)


def _selector(signature: str) -> bytes:
    return bytes(keccak(text=signature))[:4]


def eth_call(rpc: Any, contract: str, signature: str, args: Sequence[Any] = (), out: Sequence[str] = (),
             block: int | str = "latest") -> tuple[Any, ...]:
    """Call a view function through `rpc` (ninety.chain.Rpc) at `block`."""
    inputs = signature[signature.index("(") + 1:-1]
    types = [t for t in inputs.split(",") if t]
    data = _selector(signature) + encode(types, list(args))
    tag = hex(block) if isinstance(block, int) else block
    raw = rpc.call("eth_call", [{"to": contract, "data": "0x" + data.hex()}, tag])
    return tuple(decode(list(out), bytes.fromhex(raw[2:])))


def clock_of(rpc: Any, contract: str) -> EpochClock:
    (start,) = eth_call(rpc, contract, "epochStart()", out=["uint256"])
    (seconds,) = eth_call(rpc, contract, "epochSeconds()", out=["uint32"])
    return EpochClock(int(start), int(seconds))


# ------------------------------------------------------------------ inputs and the rule

@dataclass(frozen=True)
class Listen:
    """One recorded free download and whether it was eligible at its block."""
    wallet: str
    track_id: int
    signature: str
    block_number: int
    split_id: str  # the track's split at that block
    eligible: bool
    why_not: str = ""  # why it was not eligible
    # Not something the API records (a signature that is not the wallet's, a block outside
    # the epoch or before the track existed): in a report, evidence of tampering.
    impossible: bool = False


@dataclass(frozen=True)
class Purchase:
    """A Sale bought by a listener inside the window, from a split that does not pay it."""
    wallet: str
    tx_hash: str
    log_index: int
    track_id: int
    token: str
    amount: int
    platform_fee: int
    block_time: int


@dataclass
class Outcome:
    pools: list[tuple[str, int]]
    listens: list[dict[str, Any]]
    listeners: list[dict[str, Any]]
    allocations: list[Allocation]
    settlements: list[dict[str, Any]]


def qualification(rules: Rules, purchases: Iterable[Purchase]) -> tuple[bool, str]:
    """Whether a wallet's window purchases (splits not paying it) qualify it, and why not."""
    bought = list(purchases)
    if not bought:
        return False, (f"no purchase from another artist's listing in the last {rules.window} epochs; "
                       "buying any track from another artist qualifies you")
    for p in bought:
        need = rules.qualifying.get(p.token.lower())
        if need is not None and p.amount >= need:
            return True, ""
    return False, "no purchase in the window reached the qualifying amount for its token"


def fees_paid(purchases: Iterable[Purchase]) -> dict[str, int]:
    out: dict[str, int] = defaultdict(int)
    for p in purchases:
        out[p.token.lower()] += p.platform_fee
    return dict(out)


def distributable(pool: int, fee_bps: int) -> int:
    return pool * (MAX_BPS - fee_bps) // MAX_BPS


def fee_on(allocated: int, fee_bps: int) -> int:
    return allocated * fee_bps // (MAX_BPS - fee_bps)


def compute(epoch: int, rules: Rules, pools: Sequence[tuple[str, int]], listens: Sequence[Listen],
            purchases: Sequence[Purchase], not_genuine: Iterable[int] = ()) -> Outcome:
    """The rule itself: allocations, settlements and every listen's fate."""
    fake = set(not_genuine)
    by_wallet: dict[str, list[Purchase]] = defaultdict(list)
    for p in purchases:
        by_wallet[p.wallet.lower()].append(p)
    listen_rows = []
    tracks: dict[str, dict[int, str]] = defaultdict(dict)  # wallet -> track -> split
    status: dict[str, tuple[bool, str]] = {}
    for x in sorted(listens, key=lambda x: (x.wallet.lower(), x.track_id)):
        w = x.wallet.lower()
        if w not in status:
            status[w] = qualification(rules, by_wallet.get(w, []))
        qualified, why = status[w]
        if not x.eligible:
            counted, reason = False, x.why_not
        elif x.track_id in fake:
            counted, reason = False, "the recording was judged not genuine (fingerprint)"
        elif not qualified:
            counted, reason = False, why
        else:
            counted, reason = True, ""
            tracks[w][x.track_id] = x.split_id
        listen_rows.append({"wallet": w, "track_id": x.track_id, "signature": x.signature,
                            "block_number": x.block_number, "split_id": x.split_id, "counted": counted,
                            "reason": reason})
    counted_wallets = sorted(tracks)
    n = len(counted_wallets)
    per_split: dict[tuple[str, str], int] = defaultdict(int)
    directed: dict[str, dict[str, int]] = defaultdict(dict)
    settlements = []
    for token, pool in pools:
        token = token.lower()
        share = distributable(pool, rules.fee_bps) // n if n else 0
        allocated = 0
        for w in counted_wallets:
            cap = rules.multiplier * fees_paid(by_wallet[w]).get(token, 0) // rules.window
            amount = min(share, cap)
            part = amount // len(tracks[w])
            if part == 0:
                continue
            directed[w][token] = part * len(tracks[w])
            for split in tracks[w].values():
                per_split[(split, token)] += part
            allocated += part * len(tracks[w])
        fee = fee_on(allocated, rules.fee_bps)
        settlements.append({"token": token, "pool": pool, "allocated": allocated, "platform_fee": fee,
                            "carried_over": pool - allocated - fee})
    allocations = [Allocation(s, t, a) for (s, t), a in sorted(per_split.items()) if a]
    listeners = []
    for w in sorted(status):
        qualified, why = status[w]
        mine = sorted(by_wallet.get(w, []), key=lambda p: (p.block_time, p.tx_hash, p.log_index))
        listeners.append({
            "wallet": w, "qualified": qualified, "reason": why, "counted_tracks": sorted(tracks.get(w, {})),
            "purchases": [{"tx_hash": p.tx_hash, "log_index": p.log_index, "track_id": p.track_id, "token": p.token.lower(),
                           "amount": str(p.amount), "platform_fee": str(p.platform_fee), "block_time": p.block_time}
                          for p in mine],
            "fees_paid": {t: str(a) for t, a in sorted(fees_paid(mine).items())},
            "directed": {t: str(a) for t, a in sorted(directed.get(w, {}).items())},
        })
    return Outcome([(t.lower(), p) for t, p in pools], listen_rows, listeners, allocations, settlements)


def tree_of(epoch: int, allocations: list[Allocation]) -> MerkleTree:
    return MerkleTree(epoch, allocations or [Allocation(NO_SPLIT, ETH, 0)])


def listens_tree(epoch: int, listens: Sequence[dict[str, Any]]) -> LeafTree | None:
    leaves = [listen_leaf(epoch, x["wallet"], int(x["track_id"])) for x in listens]
    return LeafTree(leaves) if leaves else None


def build_report(*, chain_id: int, contract: str, epoch: int, clock: EpochClock, rules: dict[str, Any],
                 outcome: Outcome, not_genuine: Iterable[int] = ()) -> dict[str, Any]:
    tree = tree_of(epoch, outcome.allocations)
    ltree = listens_tree(epoch, outcome.listens)
    listens = []
    for x in outcome.listens:
        proof = ltree.proof_of(listen_leaf(epoch, x["wallet"], x["track_id"])) if ltree else []
        listens.append({**x, "proof": ["0x" + p.hex() for p in proof]})
    return {
        "version": 2,
        "chain_id": chain_id,
        "contract": contract.lower(),
        "epoch": epoch,
        "starts_at": clock.start_of(epoch),
        "ends_at": clock.end_of(epoch),
        "rules": rules,
        "rules_hash": "0x" + rules_hash(rules).hex(),
        "not_genuine_tracks": sorted(set(not_genuine)),
        "pools": [{"token": t, "pool": str(p)} for t, p in outcome.pools],
        "listeners": outcome.listeners,
        "listens": listens,
        "listens_root": "0x" + ltree.root.hex() if ltree else ZERO_ROOT,
        "settlements": [{k: (str(v) if isinstance(v, int) else v) for k, v in s.items()} for s in outcome.settlements],
        "allocations": [{"split_id": a.split_id, "token": a.token, "amount": str(a.amount),
                         "proof": ["0x" + p.hex() for p in tree.proof(a)]} for a in outcome.allocations],
        "root": "0x" + tree.root.hex(),
    }


def report_bytes(report: dict[str, Any]) -> bytes:
    return json.dumps(report, sort_keys=True, indent=1).encode()


# ------------------------------------------------------------------ inputs from the chain

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
        from ninety.attest import recover_free_download

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
        out = []
        for t in tokens:
            (balance,) = eth_call(self.rpc, self.contract, "poolBalance(uint256,address)", [epoch, t], ["uint256"], block)
            out.append((t.lower(), int(balance)))
        return out

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


# ------------------------------------------------------------------ checking a published epoch

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


def check_report(report: dict[str, Any], *, rpc: Any, chain_id: int, contract: str, epoch: int, deploy_block: int,
                 receipts: Sequence[dict[str, Any]] = (), progress: Callable[[str], None] = lambda _: None) -> list[str]:
    """Every way the report disagrees with the chain or with its own rules: the rules
    against the commitment, every signature, every listen's eligibility at its block,
    every qualifying sale and fee (re-found on chain, so none can be added or left out),
    the weights, allocations, fee, proofs and both roots against `EpochPublished` and
    `PoolSettled`; and each receipt (the catalog signer's) against the listens.

    Needs the state of each recorded download's block: a pruned node whose state for one
    is gone raises MissingStateError ("this node is not an archive node; …")."""
    from ninety.chain import MissingStateError

    try:
        return _check_report(report, rpc=rpc, chain_id=chain_id, contract=contract, epoch=epoch,
                             deploy_block=deploy_block, receipts=receipts, progress=progress)
    except MissingStateError as e:
        raise e.needs(f"checking epoch {epoch}") from None


def _check_report(report: dict[str, Any], *, rpc: Any, chain_id: int, contract: str, epoch: int, deploy_block: int,
                  receipts: Sequence[dict[str, Any]], progress: Callable[[str], None]) -> list[str]:
    from ninety.attest import receipt_signer

    diffs: list[str] = []
    contract = contract.lower()
    pub = published_epoch(rpc, contract, epoch, deploy_block)
    if report.get("epoch") != epoch:
        diffs.append(f"the report is for epoch {report.get('epoch')}, not {epoch}")
    if str(report.get("contract", "")).lower() != contract:
        diffs.append(f"the report is for contract {report.get('contract')}, not {contract}")
    view = ChainView(rpc, contract, deploy_block)
    committed = view.rules_hash(epoch)
    if "0x" + rules_hash(report["rules"]).hex() != committed:
        diffs.append(f"the report's rules hash to 0x{rules_hash(report['rules']).hex()}, "
                     f"but the rules committed on chain for epoch {epoch} hash to {committed}")
    rules = Rules.parse(report["rules"])
    clock = clock_of(rpc, contract)
    # The pools the contract settled, in its poolTokens order (fixed since the epoch ended).
    (tokens,) = eth_call(rpc, contract, "poolTokens(uint256)", [epoch], ["address[]"])
    pools = [(t.lower(), pub.settled[t.lower()]["pool"]) for t in tokens if t.lower() in pub.settled]
    reported_pools = [(p["token"].lower(), int(p["pool"])) for p in report["pools"]]
    if reported_pools != pools:
        diffs.append(f"pools: {reported_pools} in the report, {pools} settled on chain")
    records = [(x["wallet"], int(x["track_id"]), x["signature"], int(x["block_number"])) for x in report["listens"]]
    if len({(w.lower(), t) for w, t, _, _ in records}) != len(records):
        diffs.append("the report lists a (wallet, track) download twice")
    progress(f"re-checking {len(records)} signed downloads and their listeners' sales on chain")
    listens, purchases = gather(view, chain_id=chain_id, clock=clock, epoch=epoch, rules=rules, records=records,
                                from_block=deploy_block, to_block=pub.block_number)
    for x in listens:
        if x.impossible:
            diffs.append(f"download of track {x.track_id} by {x.wallet} could not have been recorded by the API "
                         f"({x.why_not}): the report was altered")
    outcome = compute(epoch, rules, pools, listens, purchases, report.get("not_genuine_tracks", []))
    mine = {(x["wallet"], x["track_id"]): x for x in outcome.listens}
    for x in report["listens"]:
        want = mine.get((x["wallet"].lower(), int(x["track_id"])))
        if want is not None and bool(x.get("counted")) != want["counted"]:
            diffs.append(f"download of track {x['track_id']} by {x['wallet']}: counted={x.get('counted')} in the "
                         f"report, {want['counted']} by the chain ({want['reason'] or 'eligible and qualified'})")
    reported_listeners = {x["wallet"].lower(): x for x in report.get("listeners", [])}
    for x in outcome.listeners:
        had = reported_listeners.get(x["wallet"])
        if had is None:
            diffs.append(f"listener {x['wallet']} is missing from the report's listeners")
            continue
        keys = lambda ps: sorted((p["tx_hash"].lower(), int(p["log_index"])) for p in ps)  # noqa: E731
        if keys(had.get("purchases", [])) != keys(x["purchases"]):
            diffs.append(f"listener {x['wallet']}: the report's qualifying sales {keys(had.get('purchases', []))} "
                         f"differ from the chain's {keys(x['purchases'])}")
        if bool(had.get("qualified")) != x["qualified"]:
            diffs.append(f"listener {x['wallet']}: qualified={had.get('qualified')} in the report, "
                         f"{x['qualified']} by the chain")
        if had.get("fees_paid", {}) != x["fees_paid"] or had.get("directed", {}) != x["directed"]:
            diffs.append(f"listener {x['wallet']}: fees paid or amounts directed differ from the chain's")
    want_alloc = {(a.split_id, a.token): a.amount for a in outcome.allocations}
    have_alloc = {(a["split_id"], a["token"].lower()): int(a["amount"]) for a in report["allocations"]}
    for key in sorted(want_alloc.keys() | have_alloc.keys()):
        if want_alloc.get(key, 0) != have_alloc.get(key, 0):
            diffs.append(f"allocation to split {key[0]} in {key[1]}: {have_alloc.get(key, 0)} in the report, "
                         f"{want_alloc.get(key, 0)} by its rules")
    for s in outcome.settlements:
        chain = pub.settled.get(s["token"])
        if chain is not None and (chain["allocated"], chain["platform_fee"]) != (s["allocated"], s["platform_fee"]):
            diffs.append(f"settlement {s['token']}: the rules give allocated {s['allocated']} and fee "
                         f"{s['platform_fee']}, the contract recorded {chain['allocated']} and {chain['platform_fee']}")
    root = "0x" + tree_of(epoch, outcome.allocations).root.hex()
    if root != pub.root.lower():
        diffs.append(f"Merkle root: {root} from the rules, {pub.root} on chain")
    if str(report.get("root", "")).lower() != pub.root.lower():
        diffs.append(f"Merkle root: {report.get('root')} in the report, {pub.root} on chain")
    ltree = listens_tree(epoch, report["listens"])
    lroot = "0x" + ltree.root.hex() if ltree else ZERO_ROOT
    if lroot != pub.listens_root.lower() or str(report.get("listens_root", "")).lower() != pub.listens_root.lower():
        diffs.append(f"listens root: {lroot} from the report's downloads, {report.get('listens_root')} in the report, "
                     f"{pub.listens_root} on chain")
    for a in report["allocations"]:
        node = leaf(epoch, Allocation(a["split_id"], a["token"].lower(), int(a["amount"])))
        if not verify(bytes.fromhex(pub.root[2:]), [bytes.fromhex(p[2:]) for p in a["proof"]], node):
            diffs.append(f"the proof for split {a['split_id']} in {a['token']} does not lead to the root")
    for x in report["listens"]:
        node = listen_leaf(epoch, x["wallet"], int(x["track_id"]))
        if not verify(bytes.fromhex(pub.listens_root[2:]), [bytes.fromhex(p[2:]) for p in x.get("proof", [])], node):
            diffs.append(f"the listens proof for track {x['track_id']} by {x['wallet']} does not lead to the root")
    listed = {(x["wallet"].lower(), int(x["track_id"])): x for x in report["listens"]}
    for r in receipts:
        if not isinstance(r, dict):
            diffs.append(f"a receipt is not an object: {str(r)[:80]}")
            continue
        what = f"track {r.get('track_id')} by {r.get('wallet')}"
        try:
            if int(r["epoch"]) != epoch:
                continue
            wallet, track, block = str(r["wallet"]).lower(), int(r["track_id"]), int(r["block_number"])
            signature, receipt = str(r["signature"]), str(r["receipt"])
        except (KeyError, TypeError, ValueError):
            diffs.append(f"receipt for {what} is incomplete: it needs wallet, track_id, epoch, block_number, "
                         "signature and receipt")
            continue
        # The catalog signer when the download was recorded (it may have changed since).
        (signer,) = eth_call(rpc, contract, "catalogSigner()", out=["address"], block=block)
        if receipt_signer(chain_id, contract, wallet, track, epoch, block, signature, receipt) != signer.lower():
            diffs.append(f"receipt for {what} is not signed by the catalog signer of block {block}")
            continue
        shown = listed.get((wallet, track))
        if shown is None:
            diffs.append(f"the download of {what} was recorded (the receipt is signed by the catalog signer) but the "
                         "report leaves it out")
        elif int(shown["block_number"]) != block or str(shown["signature"]).lower() != signature.lower():
            diffs.append(f"the download of {what} was recorded at block {block} with the listener's signature, but "
                         f"the report shows block {shown['block_number']} and another signature or block")
    return diffs
