"""Streaming authenticated encryption for backup objects (chunked AES-256-GCM).

A single GCM tag over a multi-gigabyte stream could only be checked after all the plaintext had
been released, so the stream is cut into fixed-size chunks, each sealed on its own:

    header  = magic "FDBK" | version (1 byte) | chunk size (uint32 BE) | key id (8 bytes)
              | salt (16 bytes) | nonce prefix (4 bytes)                       -- 37 bytes
    chunk i = AES-256-GCM(data key, nonce = prefix | i as uint64 BE,
                          plaintext = up to `chunk size` bytes,
                          associated data = header | last flag (1 byte))      -- +16-byte tag

The data key is HKDF-SHA256(master key, salt), fresh for every object. The chunk counter in
the nonce fixes each chunk's position (no reordering); the header in the associated data binds
chunks to their object; the last-chunk flag makes a truncated object fail authentication even
when it is cut exactly on a chunk boundary. Every chunk but the last is full size. The key id
(an HMAC of a constant under the master key) lets a wrong key be reported as such.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import os
import struct
from pathlib import Path

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from flightdeck.core.errors import ConfigError, PermanentError

MAGIC = b"FDBK"
VERSION = 1
TAG_SIZE = 16
DEFAULT_CHUNK_SIZE = 1024 * 1024
_HEADER = struct.Struct(">4sBI8s16s4s")
HEADER_SIZE = _HEADER.size
KEY_SIZE = 32


class DecryptError(PermanentError):
    """The object cannot be decrypted: wrong key, tampering or truncation."""


def key_id(key: bytes) -> bytes:
    return hmac.new(key, b"flightdeck-backup key id", hashlib.sha256).digest()[:8]


def load_key(key_b64: str | None, key_file: Path | None) -> bytes:
    """The 32-byte master key from FLIGHTDECK_BACKUP_KEY (base64) or FLIGHTDECK_BACKUP_KEY_FILE.

    A key file holds either the 32 raw bytes or their base64 text. Error messages never include
    the key material.
    """
    if key_b64 and key_file:
        raise ConfigError("set only one of FLIGHTDECK_BACKUP_KEY and FLIGHTDECK_BACKUP_KEY_FILE")
    if key_b64:
        source, text = "FLIGHTDECK_BACKUP_KEY", key_b64.strip().encode()
    elif key_file:
        source = f"FLIGHTDECK_BACKUP_KEY_FILE ({key_file})"
        try:
            raw = key_file.read_bytes()
        except OSError as exc:
            raise ConfigError(f"{source}: cannot read: {exc.strerror}") from None
        if len(raw) == KEY_SIZE:
            return raw
        text = raw.strip()
    else:
        raise ConfigError(
            "no backup encryption key: set FLIGHTDECK_BACKUP_KEY (base64 of 32 bytes) "
            "or FLIGHTDECK_BACKUP_KEY_FILE"
        )
    try:
        key = base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        raise ConfigError(f"{source}: not valid base64") from None
    if len(key) != KEY_SIZE:
        raise ConfigError(f"{source}: must decode to {KEY_SIZE} bytes, got {len(key)}")
    return key


def _data_key(key: bytes, salt: bytes) -> AESGCM:
    hkdf = HKDF(
        algorithm=hashes.SHA256(), length=32, salt=salt, info=b"flightdeck-backup v1 data key"
    )
    return AESGCM(hkdf.derive(key))


def _nonce(prefix: bytes, counter: int) -> bytes:
    return prefix + counter.to_bytes(8, "big")


class Encryptor:
    """Push plaintext in with update(); sealed bytes come out (header first), then finish()."""

    def __init__(self, key: bytes, chunk_size: int = DEFAULT_CHUNK_SIZE) -> None:
        salt, prefix = os.urandom(16), os.urandom(4)
        self.header = _HEADER.pack(MAGIC, VERSION, chunk_size, key_id(key), salt, prefix)
        self._aead = _data_key(key, salt)
        self._prefix = prefix
        self._chunk_size = chunk_size
        self._counter = 0
        self._buffer = bytearray()
        self._started = False

    def _seal(self, plaintext: bytes, last: bool) -> bytes:
        aad = self.header + (b"\x01" if last else b"\x00")
        sealed = self._aead.encrypt(_nonce(self._prefix, self._counter), plaintext, aad)
        self._counter += 1
        return sealed

    def update(self, data: bytes) -> list[bytes]:
        out: list[bytes] = []
        if not self._started:
            out.append(self.header)
            self._started = True
        self._buffer += data
        # Keep at least one byte back: the last chunk must be sealed with the last flag.
        while len(self._buffer) > self._chunk_size:
            out.append(self._seal(bytes(self._buffer[: self._chunk_size]), last=False))
            del self._buffer[: self._chunk_size]
        return out

    def finish(self) -> list[bytes]:
        out = self.update(b"")
        out.append(self._seal(bytes(self._buffer), last=True))
        self._buffer.clear()
        return out


class Decryptor:
    """Push sealed bytes in with update(); authenticated plaintext comes out, then finish()."""

    def __init__(self, key: bytes) -> None:
        self._key = key
        self._buffer = bytearray()
        self._header: bytes | None = None
        self._aead: AESGCM | None = None
        self._prefix = b""
        self._sealed_size = 0
        self._counter = 0

    def _read_header(self) -> None:
        header = bytes(self._buffer[:HEADER_SIZE])
        magic, version, chunk_size, stored_key_id, salt, prefix = _HEADER.unpack(header)
        if magic != MAGIC:
            raise DecryptError("cannot decrypt: not a flightdeck backup object (bad magic)")
        if version != VERSION:
            raise DecryptError(f"cannot decrypt: unsupported backup format version {version}")
        if not hmac.compare_digest(stored_key_id, key_id(self._key)):
            raise DecryptError(
                "cannot decrypt: wrong key or corrupted backup (the object was encrypted with "
                f"key id {stored_key_id.hex()}, "
                f"the configured key has id {key_id(self._key).hex()})"
            )
        self._header = header
        self._aead = _data_key(self._key, salt)
        self._prefix = prefix
        self._sealed_size = chunk_size + TAG_SIZE
        del self._buffer[:HEADER_SIZE]

    def _open(self, sealed: bytes, last: bool) -> bytes:
        assert self._aead is not None
        assert self._header is not None
        aad = self._header + (b"\x01" if last else b"\x00")
        try:
            plaintext = self._aead.decrypt(_nonce(self._prefix, self._counter), sealed, aad)
        except InvalidTag:
            raise DecryptError(
                f"cannot decrypt: wrong key or corrupted backup (chunk {self._counter} failed "
                "authentication: the object was modified or truncated)"
            ) from None
        self._counter += 1
        return plaintext

    def update(self, data: bytes) -> list[bytes]:
        self._buffer += data
        if self._header is None:
            if len(self._buffer) < HEADER_SIZE:
                return []
            self._read_header()
        out = []
        while len(self._buffer) > self._sealed_size:
            out.append(self._open(bytes(self._buffer[: self._sealed_size]), last=False))
            del self._buffer[: self._sealed_size]
        return out

    def finish(self) -> list[bytes]:
        if self._header is None:
            raise DecryptError("cannot decrypt: the object is truncated (incomplete header)")
        if len(self._buffer) < TAG_SIZE:
            raise DecryptError(
                f"cannot decrypt: wrong key or corrupted backup (the object ends inside chunk "
                f"{self._counter}: truncated)"
            )
        out = [self._open(bytes(self._buffer), last=True)]
        self._buffer.clear()
        return out
