"""The chunked AES-256-GCM stream format: round trips, tampering, truncation, wrong keys."""

import base64
import os

import pytest

from flightdeck.backup.crypto import (
    HEADER_SIZE,
    TAG_SIZE,
    DecryptError,
    Decryptor,
    Encryptor,
    load_key,
)
from flightdeck.core.errors import ConfigError

pytestmark = pytest.mark.unit

CHUNK = 64


def seal(key: bytes, data: bytes, feed: int = 7) -> bytes:
    enc = Encryptor(key, chunk_size=CHUNK)
    out = []
    for i in range(0, len(data), feed):
        out += enc.update(data[i : i + feed])
    out += enc.finish()
    return b"".join(out)


def unseal(key: bytes, sealed: bytes, feed: int = 5) -> bytes:
    dec = Decryptor(key)
    out = []
    for i in range(0, len(sealed), feed):
        out += dec.update(sealed[i : i + feed])
    out += dec.finish()
    return b"".join(out)


@pytest.mark.parametrize("size", [0, 1, CHUNK - 1, CHUNK, CHUNK + 1, 3 * CHUNK, 1000])
def test_round_trip_any_size(size: int) -> None:
    key = os.urandom(32)
    data = os.urandom(size)
    sealed = seal(key, data)
    chunks = max(1, -(-size // CHUNK))
    assert len(sealed) == HEADER_SIZE + size + chunks * TAG_SIZE
    assert unseal(key, sealed) == data


def test_same_plaintext_gives_different_objects() -> None:
    key = os.urandom(32)
    assert seal(key, b"x" * 100) != seal(key, b"x" * 100)


@pytest.mark.parametrize("cut_chunks", [1, 2])
def test_truncation_on_a_chunk_boundary_is_detected(cut_chunks: int) -> None:
    key = os.urandom(32)
    sealed = seal(key, os.urandom(4 * CHUNK))
    truncated = sealed[: len(sealed) - cut_chunks * (CHUNK + TAG_SIZE)]
    with pytest.raises(DecryptError, match="wrong key or corrupted backup"):
        unseal(key, truncated)


def test_truncation_inside_a_chunk_and_header_is_detected() -> None:
    key = os.urandom(32)
    sealed = seal(key, os.urandom(3 * CHUNK))
    with pytest.raises(DecryptError, match="corrupted backup"):
        unseal(key, sealed[:-3])
    with pytest.raises(DecryptError, match="truncated"):
        unseal(key, sealed[: HEADER_SIZE - 1])


def test_a_flipped_bit_is_detected() -> None:
    key = os.urandom(32)
    sealed = bytearray(seal(key, os.urandom(3 * CHUNK)))
    sealed[HEADER_SIZE + CHUNK + 5] ^= 1
    with pytest.raises(DecryptError, match="chunk 0 failed authentication"):
        unseal(key, bytes(sealed))


def test_reordered_chunks_are_detected() -> None:
    key = os.urandom(32)
    sealed = seal(key, os.urandom(3 * CHUNK))
    size = CHUNK + TAG_SIZE
    first, second = sealed[HEADER_SIZE : HEADER_SIZE + size], sealed[HEADER_SIZE + size :][:size]
    swapped = sealed[:HEADER_SIZE] + second + first + sealed[HEADER_SIZE + 2 * size :]
    with pytest.raises(DecryptError):
        unseal(key, swapped)


def test_wrong_key_is_named_before_any_data() -> None:
    sealed = seal(os.urandom(32), b"secret data")
    with pytest.raises(DecryptError, match="cannot decrypt: wrong key or corrupted backup"):
        Decryptor(os.urandom(32)).update(sealed)


def test_load_key_sources_and_errors(tmp_path) -> None:  # type: ignore[no-untyped-def]
    key = os.urandom(32)
    encoded = base64.b64encode(key).decode()
    assert load_key(encoded, None) == key
    (tmp_path / "raw").write_bytes(key)
    (tmp_path / "b64").write_text(encoded + "\n")
    assert load_key(None, tmp_path / "raw") == key
    assert load_key(None, tmp_path / "b64") == key
    with pytest.raises(ConfigError, match="FLIGHTDECK_BACKUP_KEY: must decode to 32 bytes"):
        load_key(base64.b64encode(b"short").decode(), None)
    with pytest.raises(ConfigError, match="FLIGHTDECK_BACKUP_KEY: not valid base64"):
        load_key("%%%", None)
    with pytest.raises(ConfigError, match="no backup encryption key"):
        load_key(None, None)
    with pytest.raises(ConfigError) as excinfo:
        load_key("A" * 40 + encoded, None)
    assert encoded not in str(excinfo.value)
