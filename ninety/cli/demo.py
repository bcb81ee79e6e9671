"""The demo catalog `ninety up` seeds on a dev chain's first run, so a newcomer meets a
store with music in it, and artists with a profile (a bio, links and an avatar).

Everything goes through the product's real paths, as an artist and a fan would: each
artist signs in with SIWE and uploads through the API (files pinned to the IPFS node,
audio encrypted), sends the createSplit and registerTrack calls the API returns, fans
buy in ETH and in the dev stablecoin (some paying more than the price; in the stablecoin
with a signed permit, one transaction each), a payee distributes and withdraws, and the
indexer mirrors it all. Then an album: The Modular Ensemble puts its three tracks on a
release priced below the three (artwork and metadata through the API, a split fair to the
tracks' collaborators, registerRelease from its wallet) and a fan buys it. Then split changes: an artist
raises a session player's share (it lands at once: nobody loses) and proposes cutting a
producer out of another track, which stays pending until the producer consents (the
studio shows it). Then a sponsor-pool round:
a sponsor funds the current epoch, two fans who bought from other artists (so they
qualify) sign free downloads of the free track, a wallet that never bought signs one too
(told why it does not count, and not recorded), the epoch is closed on the dev chain's clock and published, the
artist's split claims its allocation, the next epoch is funded, and the artist shares the
claim out and withdraws it (so this month's statement shows it as a credit). The audio and artwork are
synthesised here, different for every track, so nothing is downloaded.

Progress is kept in `<data dir>/demo.json`: a second run does not seed again, and a run
interrupted half-way goes on where it stopped instead of registering tracks twice."""
from __future__ import annotations

import json
import time
import warnings
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any, Callable

import requests
from eth_account import Account
from eth_account.messages import encode_defunct
from web3 import Web3

from ninety.attest import FREE_DOWNLOAD_TYPES, domain
from ninety.cli.demo_catalog import ARTISTS, MARKER, TRACKS
from ninety.cli.demo_media import synth_png, synth_wav
from ninety.cli.demo_profiles import seed_profiles
from ninety.cli.demo_release import seed_release
from ninety.contract import ETH, Deployment, load_abi
from ninety.errors import NinetyError
from ninety.market import sign_permit, sorted_split
from ninety.rpc_limits import http_provider

# siwe's grammar redefines a few core ABNF rules on purpose; abnf warns each time, which is
# noise on a newcomer's first screen.
warnings.filterwarnings("ignore", message=r"rule '.*' redefines")
from siwe import SiweMessage  # noqa: E402  (after the filter above)

FREE_TRACK = len(TRACKS) - 1
# The album (ninety/cli/demo_release.py): The Modular Ensemble's three tracks, all in mUSDC.
RELEASE_ARTIST, RELEASE_TRACKS = 3, (3, 4, 5)
# Split changes by Ada Lovetone: (track index, new split). "Paper Boats" raises the
# violinist's share (lands at once); "Harbour Lights" cuts the producer out (left pending:
# wallet 5 has to consent).
SPLIT_RAISE = (2, ((1, 600_000), (6, 400_000)))
SPLIT_CUT = (1, ((1, 1_000_000),))
# The pool round: wallet 8 sponsors; fans 2 and 7 (who bought) and wallet 9 (who never did)
# sign free downloads.
SPONSOR, LISTENERS, NEVER_BOUGHT = 8, (2, 7), 9
POOL_DEPOSIT = 5 * 10**16  # 0.05 ETH into the demo epoch, and as much into the next
# (fan wallet, track index, paid as a multiple of the price): pay what you want, at least the price.
SALES = ((2, 0, 1.0), (2, 1, 1.0), (2, 3, 1.5), (2, 6, 1.0), (7, 0, 2.0), (7, 4, 1.0), (7, 7, 1.2), (2, 5, 1.0))


class Seeder:
    def __init__(self, api_url: str, rpc_url: str, deployment: Deployment, keys: Callable[[int], tuple[str, str]],
                 data_dir: Path, say: Callable[[str], None] = print,
                 close_epoch: Callable[[int], dict[str, Any]] | None = None) -> None:
        self.close_epoch = close_epoch
        self.api = api_url.rstrip("/")
        self.w3 = Web3(http_provider(rpc_url, timeout=30))  # paced (NINETY_RPC_RPS), waits out 429
        self.deployment = deployment
        self.keys = keys
        self.marker = data_dir / MARKER
        self.say = say
        self.http = requests.Session()
        self.market = self.w3.eth.contract(address=Web3.to_checksum_address(deployment.address), abi=load_abi("Marketplace"))
        usdc = deployment.tokens.get("mUSDC")
        if usdc is None:
            raise NinetyError("the demo needs the dev stablecoin (mUSDC) in the deployment record")
        self.usdc = self.w3.eth.contract(address=Web3.to_checksum_address(usdc.address), abi=load_abi("MockUSDC"))
        self.state: dict[str, Any] = json.loads(self.marker.read_text()) if self.marker.exists() else {}

    def _save(self) -> None:
        tmp = self.marker.with_suffix(".tmp")
        tmp.write_text(json.dumps(self.state, indent=1))
        tmp.replace(self.marker)

    def _send(self, wallet: int, to: str, data: str, value: int = 0) -> Any:
        address, key = self.keys(wallet)
        tx = {"from": address, "to": Web3.to_checksum_address(to), "data": data, "value": value,
              "nonce": self.w3.eth.get_transaction_count(address, "pending"), "chainId": self.w3.eth.chain_id}
        tx["gas"] = int(self.w3.eth.estimate_gas(tx) * 1.2)
        tx["maxPriorityFeePerGas"] = self.w3.to_wei(1, "gwei")
        tx["maxFeePerGas"] = self.w3.eth.get_block("latest")["baseFeePerGas"] * 2 + tx["maxPriorityFeePerGas"]
        signed = Account.sign_transaction(tx, key)
        receipt = self.w3.eth.wait_for_transaction_receipt(self.w3.eth.send_raw_transaction(signed.raw_transaction), 60)
        if receipt["status"] != 1:
            raise NinetyError(f"demo transaction to {to} reverted")
        return receipt

    def _call(self, wallet: int, fn: Any, value: int = 0) -> Any:
        return self._send(wallet, fn.address, fn._encode_transaction_data(), value)

    def _login(self, wallet: int) -> dict[str, str]:
        address, key = self.keys(wallet)
        nonce = self.http.get(f"{self.api}/api/auth/nonce", timeout=10).json()
        now = datetime.now(timezone.utc)
        message = SiweMessage(
            domain=nonce["domain"], address=address, uri=self.api, version="1", chain_id=self.deployment.chain_id,
            nonce=nonce["nonce"], issued_at=now.isoformat().replace("+00:00", "Z"),
            expiration_time=(now + timedelta(minutes=30)).isoformat().replace("+00:00", "Z"),
            statement="Sign in to Ninety").prepare_message()
        signature = "0x" + Account.sign_message(encode_defunct(text=message), key).signature.hex().removeprefix("0x")
        r = self.http.post(f"{self.api}/api/auth/login", json={"message": message, "signature": signature}, timeout=10)
        if r.status_code != 200:
            raise NinetyError(f"demo sign-in refused: {r.text}")
        self.http.cookies.clear()
        return {"Authorization": f"Bearer {r.json()['token']}"}

    def _price(self, text: str) -> tuple[str, int]:
        amount, unit = text.split()
        if unit == "ETH":
            return ETH, Web3.to_wei(amount, "ether")
        return self.usdc.address.lower(), int(float(amount) * 10**6)

    def run(self) -> dict[str, Any]:
        tracks: dict[str, int] = self.state.setdefault("tracks", {})
        sessions: dict[int, dict[str, str]] = {}
        for i, t in enumerate(TRACKS):
            if t.title in tracks:
                continue
            self.say(f"  demo: uploading and registering track {i + 1}/{len(TRACKS)}: {t.title}")
            artist = ARTISTS[t.artist]
            if artist.wallet not in sessions:
                sessions[artist.wallet] = self._login(artist.wallet)
            token, price = self._price(t.price)
            split = [{"address": self.keys(w)[0], "share_ppm": s} for w, s in t.split]
            r = self.http.post(
                f"{self.api}/api/uploads", headers=sessions[artist.wallet], timeout=120,
                data={"title": t.title, "artist_name": artist.name, "genre": t.genre, "description": t.description,
                      "license": "CC BY-NC 4.0 (demo)", "price": str(price), "token": token,
                      "split": json.dumps(split), "preview_start": "0"},
                files={"audio": (f"{t.title}.wav", synth_wav(i + 1), "audio/wav"),
                       "artwork": ("cover.png", synth_png(i + 1), "image/png")})
            if r.status_code != 201:
                raise NinetyError(f"demo upload of {t.title!r} failed: HTTP {r.status_code} {r.text[:300]}")
            calls = r.json()
            self._send(artist.wallet, calls["create_split_call"]["to"], calls["create_split_call"]["data"])
            receipt = self._send(artist.wallet, calls["register_call"]["to"], calls["register_call"]["data"])
            event = self.market.events.TrackRegistered().process_receipt(receipt)[0]
            tracks[t.title] = int(event["args"]["trackId"])
            self._save()
        seed_profiles(self, {a.wallet: a.name for a in ARTISTS.values()})
        if not self.state.get("sales"):
            self.say(f"  demo: {len(SALES)} sales by two fans, in ETH and mUSDC")
            for fan in {f for f, _, _ in SALES}:
                self._call(fan, self.usdc.functions.mint(self.keys(fan)[0], 1_000 * 10**6))
            for fan, index, times in SALES:
                t = TRACKS[index]
                token, price = self._price(t.price)
                self._buy(fan, tracks[t.title], token, int(price * times))
            self.state["sales"] = len(SALES)
            self._save()
        if not self.state.get("withdrawal"):
            # The first artist collects: distribute the split balances, then withdraw ETH.
            artist = self.keys(ARTISTS[1].wallet)[0]
            self.say("  demo: Ada Lovetone distributes and withdraws her ETH")
            for t in TRACKS:
                token, _ = self._price(t.price)
                if t.artist == 1 and token == ETH:
                    split_id = self.market.functions.tracks(tracks[t.title]).call()[1]
                    # The contract keeps only the split's hash: its data goes with the call.
                    recipients, shares = self._split(t.split)
                    self._call(1, self.market.functions.distribute(split_id, Web3.to_checksum_address(token),
                                                                   recipients, shares))
            self._call(1, self.market.functions.withdraw(artist, [Web3.to_checksum_address(ETH)]))
            self.state["withdrawal"] = True
            self._save()
        self._wait_indexed()
        members = [TRACKS[i] for i in RELEASE_TRACKS]
        seed_release(self, [tracks[t.title] for t in members], [t.split for t in members], RELEASE_ARTIST,
                     ARTISTS[RELEASE_ARTIST].name)
        if not self.state.get("split_changes"):
            self._split_changes(tracks)
        if self.close_epoch is not None and not self.state.get("pool_round"):
            self._pool_round(tracks[TRACKS[FREE_TRACK].title])
        self.state["complete"] = True
        self._save()
        return self.state

    def _buy(self, fan: int, listing: int, token: str, amount: int) -> Any:
        """As the web app pays: ETH as the value; mUSDC with a permit the fan signs, in one
        transaction (so the fan wallet keeps no standing allowance)."""
        if token == ETH:
            return self._call(fan, self.market.functions.buy(listing, amount), amount)
        address, key = self.keys(fan)
        deadline = int(self.w3.eth.get_block("latest")["timestamp"]) + 1800
        v, r, s = sign_permit(key, self.usdc, address, self.market.address, amount, deadline)
        return self._call(fan, self.market.functions.buyWithPermit(listing, amount, deadline, v, r, s))

    def _split(self, pairs: tuple[tuple[int, int], ...]) -> tuple[list[str], list[int]]:
        """(recipients, shares) of a split of dev wallets, in the contract's order."""
        return sorted_split([(self.keys(w)[0], share) for w, share in pairs])

    def _split_changes(self, tracks: dict[str, int]) -> None:
        """Ada raises the violinist on "Paper Boats" (at once) and proposes cutting the
        producer out of "Harbour Lights" (pending until wallet 5 consents), as the studio
        does: createSplit, then proposeSplit with the current split's data from the API."""
        f = self.market.functions
        receipt = None
        for index, pairs in (SPLIT_RAISE, SPLIT_CUT):
            if self.state.get(f"split_change_{index}"):
                continue  # sent by an interrupted run (the ledger may not show it yet)
            t = TRACKS[index]
            track_id = tracks[t.title]
            current = self.http.get(f"{self.api}/api/tracks/{track_id}", timeout=10).json()["split_id"]
            now = self.http.get(f"{self.api}/api/splits/{current}", timeout=10).json()
            recipients, shares = self._split(pairs)
            self._call(1, f.createSplit(recipients, shares))  # an existing split is returned as is
            self.say(f"  demo: Ada Lovetone proposes a new split for {t.title}")
            receipt = self._call(1, f.proposeSplit(
                track_id, ([Web3.to_checksum_address(a) for a in now["recipients"]], now["shares_ppm"]),
                (recipients, shares)))
            self.state[f"split_change_{index}"] = True
            self._save()
        if receipt is not None:
            self._wait_block_indexed(int(receipt["blockNumber"]))
        self.state["split_changes"] = True
        self._save()

    def _pool_round(self, free_track: int) -> None:
        """One whole sponsor-pool epoch, through the same paths as the product's users."""
        assert self.close_epoch is not None
        f = self.market.functions
        epoch = self.state.get("pool_epoch")
        if epoch is None:
            epoch = f.currentEpoch().call()
            self.say(f"  demo: a sponsor funds epoch {epoch} with {POOL_DEPOSIT / 10**18} ETH; listeners sign free downloads")
            self._call(SPONSOR, f.depositToPool(epoch, ETH, POOL_DEPOSIT), POOL_DEPOSIT)
            self.state["pool_epoch"] = epoch
            self._save()
        answers = self.state.setdefault("free_downloads", {})
        for wallet in (*LISTENERS, NEVER_BOUGHT):
            if str(wallet) in answers:
                continue
            headers = self._login(wallet)
            signed = Account.sign_typed_data(
                self.keys(wallet)[1], domain_data=domain(self.deployment.chain_id, self.deployment.address),
                message_types=FREE_DOWNLOAD_TYPES, message_data={"trackId": free_track, "epoch": epoch})
            r = self.http.post(f"{self.api}/api/tracks/{free_track}/free-download", headers=headers, timeout=30,
                               json={"epoch": epoch, "signature": "0x" + bytes(signed.signature).hex()})
            if r.status_code != 200:
                raise NinetyError(f"demo free download refused: HTTP {r.status_code} {r.text[:300]}")
            answers[str(wallet)] = r.json()
            self._save()
        if not self.state.get("pool_published"):
            self.say(f"  demo: closing epoch {epoch} (the dev chain's clock moves to its end) and publishing it")
            self.close_epoch(epoch)
            self.state["pool_published"] = True
            self._save()
        if not self.state.get("pool_claimed"):
            self._wait_published(epoch)
            artist = self.keys(ARTISTS[TRACKS[FREE_TRACK].artist].wallet)[0]
            mine = self.http.get(f"{self.api}/api/pools/{epoch}/allocations", params={"payee": artist},
                                 timeout=30).json()["allocations"]
            for a in mine:
                if not a["claimed"]:
                    self._call(ARTISTS[TRACKS[FREE_TRACK].artist].wallet, f.claimFromPool(
                        epoch, a["split_id"], Web3.to_checksum_address(a["token"]), int(a["amount"]), a["proof"]))
            self.say(f"  demo: Kyoto Tape Club claims {len(mine)} allocation(s); the next epoch is funded")
            receipt = self._call(SPONSOR, f.depositToPool(f.currentEpoch().call(), ETH, POOL_DEPOSIT), POOL_DEPOSIT)
            self.state["pool_claimed"] = True
            self.state["pool_last_block"] = int(receipt["blockNumber"])
            self._save()
        if not self.state.get("pool_paid_out"):
            self._pool_payout(epoch)
        self._wait_block_indexed(int(self.state.get("pool_last_block", 0)))
        self.state["pool_round"] = True
        self._save()

    def _pool_payout(self, epoch: int) -> None:
        """Kyoto Tape Club shares its claimed allocations out and withdraws, as the studio's
        Claim and Withdraw buttons do. A claim only fills the split's balance: until someone
        distributes it, nothing is owed to the payees, and the month's statement lists the
        claim as waiting in the split rather than as a credit. Distributing again after an
        interrupted run moves nothing (no revert), so this step may repeat."""
        f = self.market.functions
        wallet = ARTISTS[TRACKS[FREE_TRACK].artist].wallet
        artist = self.keys(wallet)[0]
        mine = self.http.get(f"{self.api}/api/pools/{epoch}/allocations", params={"payee": artist},
                             timeout=30).json()["allocations"]
        receipt = None
        for a in mine:
            token = Web3.to_checksum_address(a["token"])
            recipients = [Web3.to_checksum_address(r) for r in a["recipients"]]
            receipt = self._call(wallet, f.distribute(a["split_id"], token, recipients, a["shares_ppm"]))
        tokens = sorted({Web3.to_checksum_address(a["token"]) for a in mine})
        # Only what is owed: withdrawing a zero balance would add a withdrawal of nothing.
        owed = [t for t in tokens if f.owed(artist, t).call() > 0]
        if owed:
            self.say("  demo: Kyoto Tape Club shares its pool allocation out and withdraws it")
            receipt = self._call(wallet, f.withdraw(artist, owed))
        if receipt is not None:
            self.state["pool_last_block"] = int(receipt["blockNumber"])
        self.state["pool_paid_out"] = True
        self._save()

    def _wait_block_indexed(self, block: int, timeout: float = 60.0) -> None:
        """Until the ledger covers `block`, so the Pools page shows the whole round."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                if (self.http.get(f"{self.api}/api/status", timeout=10).json().get("indexed_block") or -1) >= block:
                    return
            except (requests.RequestException, ValueError):
                pass
            time.sleep(0.3)
        raise NinetyError(f"the indexer has not reached block {block} in {timeout:.0f} s; see the indexer log")

    def _wait_published(self, epoch: int, timeout: float = 60.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                epochs = self.http.get(f"{self.api}/api/pools", timeout=10).json()["epochs"]
                if any(e["epoch"] == epoch and e["published"] for e in epochs):
                    return
            except (requests.RequestException, KeyError, ValueError):
                pass
            time.sleep(0.5)
        raise NinetyError(f"epoch {epoch} was published but the indexer has not caught up in {timeout:.0f} s")

    def _wait_indexed(self, timeout: float = 90.0) -> None:
        """Until the indexer has the whole demo, with every track's metadata read from IPFS."""
        self.say("  demo: waiting for the indexer")
        deadline = time.monotonic() + timeout
        want = set(self.state["tracks"].values())
        while time.monotonic() < deadline:
            try:
                items = self.http.get(f"{self.api}/api/tracks", params={"limit": 100}, timeout=10).json()["items"]
                ready = {i["track_id"] for i in items if i["metadata_status"] == "ok"}
                withdrawals = self.http.get(f"{self.api}/api/ledger/withdrawals", timeout=10).json()["items"]
                if want <= ready and withdrawals:
                    return
            except (requests.RequestException, KeyError, ValueError):
                pass
            time.sleep(0.5)
        raise NinetyError("the demo catalog was sent to the chain but the indexer has not caught up in 90 s; "
                          "see the indexer log")
