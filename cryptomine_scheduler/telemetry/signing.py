"""HMAC-SHA256 signing of samples with per-host keys.

A collector serialises a sample once, to JSON text, and signs that text;
the envelope carries the text itself (``signed``) beside the signature,
so that the controller checks the very bytes signed and parses them
once, instead of each side serialising the sample again.  (The JSON
encoder writes a NaN reading as null; the sources report none.)
Collectors released before that sent the sample as an object
(``sample``), signed in its :func:`canonical_bytes`; controllers still
accept that form.

Every host signs with ``HMAC(master_secret, "cryptomine-host:" + host)``,
so a host that leaks its key cannot sign samples that claim another host:
the controller derives the key from the host the sample names.  Only
controllers need the master secret; a compute host carries its own key,
written as hex (``[messaging] host_key``).
"""

import hashlib
import hmac
import json
import re

import orjson

_KEY_LABEL = b'cryptomine-host:'
MIN_SECRET_LENGTH = 16
_HOST_KEY_HEX = re.compile('[0-9a-fA-F]{64}')


def check_master_secret(secret: str | None) -> str:
    """Return ``secret``, or raise ValueError if it is unset or short."""
    if not secret or len(secret) < MIN_SECRET_LENGTH:
        raise ValueError(f'[messaging] master_secret must be set '
                         f'({MIN_SECRET_LENGTH}+ characters) and equal on '
                         f'every controller')
    return secret


def derive_host_key(master_secret: str, host: str) -> bytes:
    """Return the signing key of ``host``."""
    return hmac.new(master_secret.encode(), _KEY_LABEL + host.encode(),
                    hashlib.sha256).digest()


def parse_host_key(text: str) -> bytes:
    """Return the key written as ``text`` (64 hex digits), or raise
    ValueError (which never quotes the key)."""
    if not _HOST_KEY_HEX.fullmatch(text):
        found = (f'{len(text)} characters' if len(text) != 64
                 else 'a character that is not a hex digit')
        raise ValueError(f'[messaging] host_key must be 64 hexadecimal '
                         f'digits, as cryptomine-host-key prints it; it has '
                         f'{found}')
    return bytes.fromhex(text)


def canonical_bytes(wire: dict) -> bytes:
    """The bytes an envelope of the older form (``sample``) signed."""
    return json.dumps(wire, sort_keys=True, separators=(',', ':')).encode()


def mac(data: bytes, key: bytes) -> str:
    """Return the hex signature of ``data``."""
    return hmac.new(key, data, hashlib.sha256).hexdigest()


def verify(data: bytes, signature: str, key: bytes) -> bool:
    """Check the signature of ``data`` in constant time."""
    return hmac.compare_digest(mac(data, key), signature)


def envelope(wire: dict, key: bytes) -> dict:
    """Return the notification payload for a wire sample."""
    data = orjson.dumps(wire)
    return {'signed': data.decode(), 'signature': mac(data, key)}


def opened(envelope: dict) -> dict:
    """The wire sample in an envelope of either form, unchecked."""
    if 'signed' in envelope:
        return orjson.loads(envelope['signed'])
    return envelope['sample']
