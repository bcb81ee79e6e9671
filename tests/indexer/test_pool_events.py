"""Sponsor pools v2 in the ledger, on real Anvil and SQLite/PostgreSQL: committed pool
rules, the listens root, carry-over into the epoch current at publication (not epoch + 1),
and all of it undone on a reorg and re-derived by `ninety verify`."""
from __future__ import annotations

from dataclasses import dataclass

from eth_utils import keccak
from sqlalchemy import select, update
from sqlmodel import SQLModel
from web3 import Web3

from indexer.runner import Indexer
from indexer.store import Ledger
from indexer.verify import verify
from ninety.chain import Rpc
from ninety.market import ETH, Market, deploy_direct, web3_for
from ninety.merkle import Allocation, MerkleTree

T = SQLModel.metadata.tables
EPOCH_SECONDS = 1000
DEPOSIT = 10**15


@dataclass
class Pools:
    w3: Web3
    market: Market
    accounts: list[str]
    start_block: int
    epoch_start: int

    @property
    def owner(self) -> str:
        return self.accounts[0]

    def call(self, name: str, *args):
        return getattr(self.market.contract.functions, name)(*args).call()

    def send(self, name: str, *args, sender: str | None = None, value: int = 0):
        return self.market.send(getattr(self.market.contract.functions, name)(*args), sender or self.owner, value)

    def to_epoch(self, epoch: int) -> None:
        """Move Anvil's clock into `epoch` and mine a block there."""
        now = self.w3.eth.get_block("latest")["timestamp"]
        target = self.epoch_start + epoch * EPOCH_SECONDS + 1
        assert target > now, (epoch, self.call("currentEpoch"))
        self.w3.provider.make_request("evm_increaseTime", [target - now])
        self.w3.provider.make_request("evm_mine", [])
        assert self.call("currentEpoch") == epoch

    def set_rules(self, tag: str) -> tuple[str, str]:
        rules_hash, cid = keccak(text=tag), f"bafkreirules{tag}"
        self.send("setPoolRules", rules_hash, cid)
        return "0x" + rules_hash.hex(), cid

    def publish(self, epoch: int, allocations: list[Allocation], allocated: list[int], fees: list[int]) -> tuple[str, str]:
        root = MerkleTree(epoch, allocations).root
        listens_root = keccak(text=f"listens of epoch {epoch}")
        self.send("publishEpoch", epoch, root, listens_root, f"bafkreireport{epoch}", allocated, fees)
        return "0x" + root.hex(), "0x" + listens_root.hex()

    def indexer(self, url: str, engine) -> Indexer:
        return Indexer(Rpc(url, timeout=15), Ledger(engine, self.market.address), start_block=self.start_block,
                       chain_id=31337)


def deploy(url: str) -> Pools:
    w3 = web3_for(url)
    accounts = [str(a) for a in w3.eth.accounts]
    start_block = w3.eth.block_number + 1
    market, _usdc = deploy_direct(w3, accounts[0], accounts[9], 500, epoch_seconds=EPOCH_SECONDS)
    pools = Pools(w3, market, accounts, start_block, market.contract.functions.epochStart().call())
    assert pools.call("currentEpoch") == 0 and pools.call("poolRulesHash", 0) != b"\0" * 32
    return pools


def rows(engine, table: str) -> list[dict]:
    t = T[table]
    with engine.connect() as conn:
        return [dict(r) for r in conn.execute(select(t).order_by(t.c.block_number, t.c.log_index)).mappings()]


def pool_totals(engine) -> dict[tuple[int, str], tuple[int, ...]]:
    with engine.connect() as conn:
        return {(r["epoch"], r["token"]): (r["funded"], r["withdrawn"], r["settled"], r["allocated"], r["claimed"])
                for r in conn.execute(select(T["pool_total"])).mappings()}


def test_carry_over_goes_to_the_epoch_current_at_publication(anvil, engine):
    p = deploy(anvil.url)
    a = p.accounts
    default_hash = "0x" + p.call("poolRulesHash", 0).hex()
    first_hash, _ = p.set_rules("v1")  # in epoch 0 before any deposit: replaces epoch 0's
    p.send("depositToPool", 0, ETH, DEPOSIT, sender=a[1], value=DEPOSIT)
    later_hash, later_cid = p.set_rules("v2")  # after a deposit: from epoch 1 on
    p.to_epoch(3)
    # Nothing allocated in epoch 0: no fee, all of it carried into epoch 3 (not 1).
    root0, listens0 = p.publish(0, [Allocation("0x" + "00" * 32, ETH, 0)], [0], [0])
    # Epoch 3 then pays a split from the carried pool plus a deposit of its own.
    split = p.market.create_split([(a[2], 600_000), (a[3], 400_000)], a[2])
    p.send("depositToPool", 3, ETH, 3 * DEPOSIT, sender=a[4], value=3 * DEPOSIT)
    p.to_epoch(5)
    pool3 = 4 * DEPOSIT
    allocated = pool3 * 3 // 4
    fee = allocated // 9
    paid = Allocation(split, ETH, allocated)
    root3, listens3 = p.publish(3, [paid], [allocated], [fee])
    p.send("claimFromPool", 3, split, ETH, allocated, MerkleTree(3, [paid]).proof(paid), sender=a[5])

    p.indexer(anvil.url, engine).run(once=True)

    assert [(r["from_epoch"], r["rules_hash"]) for r in rows(engine, "pool_rules")] == [
        (0, default_hash), (0, first_hash), (1, later_hash)]
    assert rows(engine, "pool_rules")[2]["rules_cid"] == later_cid
    assert "0x" + p.call("poolRulesHash", 0).hex() == first_hash  # verify checks the same per epoch
    assert [(r["epoch"], r["root"], r["listens_root"]) for r in rows(engine, "epoch")] == [
        (0, root0, listens0), (3, root3, listens3)]
    settlements = rows(engine, "pool_settlement")
    assert [(r["epoch"], r["pool"], r["allocated"], r["platform_fee"], r["carried_over"], r["carried_to_epoch"])
            for r in settlements] == [
        (0, DEPOSIT, 0, 0, DEPOSIT, 3),
        (3, pool3, allocated, fee, pool3 - allocated - fee, 5),
    ]
    assert pool_totals(engine) == {
        (0, ETH): (DEPOSIT, 0, DEPOSIT, 0, 0),
        (3, ETH): (pool3, 0, pool3, allocated, allocated),  # the carry-in counts as funded
        (5, ETH): (pool3 - allocated - fee, 0, 0, 0, 0),
    }
    assert p.call("poolBalance", 5, ETH) == pool3 - allocated - fee
    _, diffs = verify(Rpc(anvil.url), engine, p.market.address, p.start_block)
    assert diffs == []


def test_verify_names_tampered_pool_rules_listens_roots_and_carry_targets(anvil, engine):
    p = deploy(anvil.url)
    p.send("depositToPool", 0, ETH, DEPOSIT, sender=p.accounts[1], value=DEPOSIT)
    p.to_epoch(2)
    p.publish(0, [Allocation("0x" + "00" * 32, ETH, 0)], [0], [0])
    p.indexer(anvil.url, engine).run(once=True)
    rules, epoch, settlement = (rows(engine, n)[0] for n in ("pool_rules", "epoch", "pool_settlement"))
    with engine.begin() as conn:
        conn.execute(update(T["pool_rules"]).values(rules_hash="0x" + "ee" * 32))
        conn.execute(update(T["epoch"]).values(listens_root="0x" + "00" * 32))
        conn.execute(update(T["pool_settlement"]).values(carried_to_epoch=1))
    _, diffs = verify(Rpc(anvil.url), engine, p.market.address, p.start_block)
    for row, column in ((rules, "rules_hash"), (epoch, "listens_root"), (settlement, "carried_to_epoch")):
        assert any(row["tx_hash"] in d and column in d for d in diffs), (column, diffs)
    assert any(d.startswith("poolRulesHash(0)") for d in diffs), diffs  # and against the contract's own view


def test_a_reorg_undoes_rules_publications_and_carry_over(anvil, engine):
    p = deploy(anvil.url)
    w3 = p.w3
    p.send("depositToPool", 0, ETH, DEPOSIT, sender=p.accounts[1], value=DEPOSIT)
    p.to_epoch(3)
    ix = p.indexer(anvil.url, engine)
    ix.run(once=True)
    before = (rows(engine, "pool_rules"), pool_totals(engine))
    snapshot = w3.provider.make_request("evm_snapshot", [])["result"]

    p.set_rules("doomed")  # from epoch 4
    p.publish(0, [Allocation("0x" + "00" * 32, ETH, 0)], [0], [0])  # carried into epoch 3
    ix.run(once=True)
    assert len(rows(engine, "pool_rules")) == 2 and rows(engine, "epoch")
    assert pool_totals(engine)[(3, ETH)] == (DEPOSIT, 0, 0, 0, 0)

    # Replace those blocks with a longer fork where nothing was committed or published.
    assert w3.provider.make_request("evm_revert", [snapshot])["result"]
    for _ in range(4):
        w3.provider.make_request("evm_mine", [])
    ix.run(once=True)
    assert ix.stats.reorgs == 1
    assert (rows(engine, "pool_rules"), pool_totals(engine)) == before
    assert rows(engine, "epoch") == [] and rows(engine, "pool_settlement") == []
    _, diffs = verify(Rpc(anvil.url), engine, p.market.address, p.start_block)
    assert diffs == []

    # On the fork, epoch 0 is published later: its carry-over lands in epoch 5 instead.
    p.to_epoch(5)
    p.publish(0, [Allocation("0x" + "00" * 32, ETH, 0)], [0], [0])
    ix.run(once=True)
    assert [r["carried_to_epoch"] for r in rows(engine, "pool_settlement")] == [5]
    assert pool_totals(engine) == {(0, ETH): (DEPOSIT, 0, DEPOSIT, 0, 0), (5, ETH): (DEPOSIT, 0, 0, 0, 0)}
    _, diffs = verify(Rpc(anvil.url), engine, p.market.address, p.start_block)
    assert diffs == []
