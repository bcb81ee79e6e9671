"""ninety.attest: EIP-712 digests on the Marketplace's domain, who signed them, and the
catalog signer's key. Digests are rebuilt here word by word from the EIP-712 spec."""
from __future__ import annotations

import stat

import pytest
from eth_account import Account
from eth_utils import keccak

from ninety.attest import CatalogSigner, free_download_digest, receipt_digest, receipt_signer, recover_free_download
from ninety.errors import ConfigError

CHAIN = 31337
MARKET = "0x5fbdb2315678afecb367f032d93f642f64180aa3"
LISTENER_KEY = "0x" + "11" * 32
CATALOG_KEY = "0x" + "22" * 32
N = 0xFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFEBAAEDCE6AF48A03BBFD25E8CD0364141


def word(n: int) -> bytes:
    return n.to_bytes(32, "big")


def address_word(address: str) -> bytes:
    return bytes(12) + bytes.fromhex(address[2:])


def eip712(type_string: str, encoded_fields: bytes) -> bytes:
    domain = keccak(keccak(b"EIP712Domain(string name,string version,uint256 chainId,address verifyingContract)")
                    + keccak(b"Ninety") + keccak(b"1") + word(CHAIN) + address_word(MARKET))
    return keccak(b"\x19\x01" + domain + keccak(keccak(type_string.encode()) + encoded_fields))


def signed(digest: bytes, key: str) -> str:
    return "0x" + bytes(Account.unsafe_sign_hash(digest, key).signature).hex()


def address_of(key: str) -> str:
    return Account.from_key(key).address.lower()


def test_the_free_download_digest_is_eip712_of_track_and_epoch_on_the_market_domain():
    expected = eip712("FreeDownload(uint256 trackId,uint256 epoch)", word(12) + word(3))
    assert free_download_digest(CHAIN, MARKET, 12, 3) == expected
    assert free_download_digest(CHAIN, MARKET.upper().replace("0X", "0x"), 12, 3) == expected
    assert free_download_digest(1, MARKET, 12, 3) != expected


def test_the_signer_of_a_free_download_is_recovered_in_lower_case():
    signature = signed(eip712("FreeDownload(uint256 trackId,uint256 epoch)", word(12) + word(3)), LISTENER_KEY)
    assert recover_free_download(CHAIN, MARKET, 12, 3, signature) == address_of(LISTENER_KEY)
    assert recover_free_download(CHAIN, MARKET, 12, 3, bytes.fromhex(signature[2:])) == address_of(LISTENER_KEY)
    # Signed for another track or epoch: it recovers to some other address, never the listener.
    assert recover_free_download(CHAIN, MARKET, 13, 3, signature) != address_of(LISTENER_KEY)
    assert recover_free_download(CHAIN, MARKET, 12, 4, signature) != address_of(LISTENER_KEY)


def test_v_as_0_or_1_is_read_as_27_or_28():
    signature = signed(free_download_digest(CHAIN, MARKET, 1, 0), LISTENER_KEY)
    raw = bytes.fromhex(signature[2:])
    low_v = "0x" + (raw[:64] + bytes([raw[64] - 27])).hex()
    assert recover_free_download(CHAIN, MARKET, 1, 0, low_v) == address_of(LISTENER_KEY)


def test_the_malleable_high_s_twin_of_a_signature_is_refused():
    signature = signed(free_download_digest(CHAIN, MARKET, 1, 0), LISTENER_KEY)
    raw = bytes.fromhex(signature[2:])
    s = int.from_bytes(raw[32:64], "big")
    twin = "0x" + (raw[:32] + (N - s).to_bytes(32, "big") + bytes([55 - raw[64]])).hex()
    assert recover_free_download(CHAIN, MARKET, 1, 0, twin) is None


@pytest.mark.parametrize("signature", ["0x", "0xzz", "0x" + "00" * 64, "0x" + "00" * 66, "0x" + "ff" * 64 + "1b",
                                       "0x" + "00" * 64 + "1d"])
def test_malformed_signatures_have_no_signer(signature):
    assert recover_free_download(CHAIN, MARKET, 1, 0, signature) is None


def test_a_receipt_binds_listener_track_epoch_block_and_the_signatures_hash():
    listener = address_of(LISTENER_KEY)
    listen_sig = signed(free_download_digest(CHAIN, MARKET, 12, 3), LISTENER_KEY)
    expected = eip712("FreeDownloadRecorded(address listener,uint256 trackId,uint256 epoch,uint256 blockNumber,"
                      "bytes32 signatureHash)",
                      address_word(listener) + word(12) + word(3) + word(900) + keccak(bytes.fromhex(listen_sig[2:])))
    assert receipt_digest(CHAIN, MARKET, listener, 12, 3, 900, listen_sig) == expected
    assert receipt_digest(CHAIN, MARKET, listener, 12, 3, 900, listen_sig.upper().replace("0X", "0x")) == expected


def test_a_receipt_recovers_to_the_catalog_signer_only_for_what_it_was_signed_for():
    catalog = CatalogSigner(CATALOG_KEY)
    listener = address_of(LISTENER_KEY)
    listen_sig = signed(free_download_digest(CHAIN, MARKET, 12, 3), LISTENER_KEY)
    receipt = catalog.sign_receipt(CHAIN, MARKET, listener, 12, 3, 900, listen_sig)
    assert receipt_signer(CHAIN, MARKET, listener, 12, 3, 900, listen_sig, receipt) == address_of(CATALOG_KEY)
    assert receipt_signer(CHAIN, MARKET, listener, 12, 3, 901, listen_sig, receipt) != address_of(CATALOG_KEY)
    other_sig = signed(free_download_digest(CHAIN, MARKET, 12, 3), CATALOG_KEY)
    assert receipt_signer(CHAIN, MARKET, listener, 12, 3, 900, other_sig, receipt) != address_of(CATALOG_KEY)
    assert receipt_signer(CHAIN, MARKET, "not an address", 12, 3, 900, listen_sig, receipt) is None


def test_a_listing_attestation_is_the_deadline_then_the_signature_of_the_listing():
    catalog = CatalogSigner(CATALOG_KEY)
    registrant = "0x" + "ab" * 20
    split = "0x" + "0c" * 32
    attestation = catalog.sign_listing("bafymeta", registrant, split, CHAIN, MARKET, 1_700_000_000)
    raw = bytes.fromhex(attestation[2:])
    assert len(raw) == 32 + 65 and raw[:32] == word(1_700_000_000)
    digest = eip712("Listing(string metadataCid,address registrant,bytes32 splitId,uint256 deadline)",
                    keccak(b"bafymeta") + address_word(registrant) + bytes.fromhex(split[2:]) + word(1_700_000_000))
    assert Account._recover_hash(digest, signature=raw[32:]).lower() == address_of(CATALOG_KEY)
    assert catalog.address.lower() == address_of(CATALOG_KEY)


def test_the_catalog_key_from_the_environment_is_normalised_and_checked(tmp_path):
    assert CatalogSigner.load("  " + "22" * 32 + "\n", tmp_path).key == CATALOG_KEY
    assert not (tmp_path / "catalog.key").exists()  # a configured key writes nothing
    with pytest.raises(ConfigError, match="NINETY_CATALOG_KEY"):
        CatalogSigner.load("0x1234", tmp_path)


def test_without_a_configured_key_one_is_made_once_readable_by_the_owner_only(tmp_path):
    data = tmp_path / "data"
    first = CatalogSigner.load(None, data)
    path = data / "catalog.key"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert path.read_text().strip() == first.key and len(bytes.fromhex(first.key[2:])) == 32
    assert CatalogSigner.load(None, data) == first


def test_a_key_file_that_holds_no_key_is_a_config_error(tmp_path):
    (tmp_path / "catalog.key").write_text("hello\n")
    with pytest.raises(ConfigError, match="does not hold a private key"):
        CatalogSigner.load(None, tmp_path)
