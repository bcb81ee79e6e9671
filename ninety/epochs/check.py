"""Re-checking a published epoch (`ninety verify epoch`): the report against the chain and
against its own rules, by re-running the same `compute` on inputs gathered from the chain
alone."""
from __future__ import annotations

from typing import Any, Callable, Sequence

from ninety.attest import receipt_signer
from ninety.chain import MissingStateError
from ninety.epochs.allocation import compute, listens_tree, tree_of
from ninety.epochs.onchain import ChainView, clock_of, gather, published_epoch
from ninety.epochs.rules import ZERO_ROOT, Rules, rules_hash
from ninety.merkle import Allocation, leaf, listen_leaf, verify
from ninety.reads import eth_call


def check_report(report: dict[str, Any], *, rpc: Any, chain_id: int, contract: str, epoch: int, deploy_block: int,
                 receipts: Sequence[dict[str, Any]] = (), progress: Callable[[str], None] = lambda _: None) -> list[str]:
    """Every way the report disagrees with the chain or with its own rules: the rules
    against the commitment, every signature, every listen's eligibility at its block,
    every qualifying sale and fee (re-found on chain, so none can be added or left out),
    the weights, allocations, fee, proofs and both roots against `EpochPublished` and
    `PoolSettled`; and each receipt (the catalog signer's) against the listens.

    Needs the state of each recorded download's block: a pruned node whose state for one
    is gone raises MissingStateError ("this node is not an archive node; …")."""
    try:
        return _check_report(report, rpc=rpc, chain_id=chain_id, contract=contract, epoch=epoch,
                             deploy_block=deploy_block, receipts=receipts, progress=progress)
    except MissingStateError as e:
        raise e.needs(f"checking epoch {epoch}") from None


def _check_report(report: dict[str, Any], *, rpc: Any, chain_id: int, contract: str, epoch: int, deploy_block: int,
                  receipts: Sequence[dict[str, Any]], progress: Callable[[str], None]) -> list[str]:
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
