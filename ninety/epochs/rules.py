"""Sponsor-pool epochs: the rules document and the epoch clock.

The `ninety.epochs` package is the one place the off-chain rule lives (rules and clock
here, the allocation and its report in `allocation`, inputs read from the chain in
`onchain`, re-checking a published epoch in `check`); `ninety epoch close` builds the
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
from dataclasses import dataclass
from typing import Any

from eth_utils import keccak

from ninety.ipfs import local_cid

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
