"""HMAC-SHA256 signing of samples with per-host keys.

Every host signs with ``HMAC(master_secret, "cryptomine-host:" + host)``,
so a host that leaks its key cannot sign samples that claim another host:
the controller derives the key from the host the sample names.
"""

import hashlib
import hmac
import json

_KEY_LABEL = b'cryptomine-host:'


def derive_host_key(master_secret: str, host: str) -> bytes:
    """Return the signing key of ``host``."""
    return hmac.new(master_secret.encode(), _KEY_LABEL + host.encode(),
                    hashlib.sha256).digest()


def canonical_bytes(wire: dict) -> bytes:
    """Serialise ``wire`` the same way on every side of the bus."""
    return json.dumps(wire, sort_keys=True, separators=(',', ':')).encode()


def sign(wire: dict, key: bytes) -> str:
    """Return the hex signature of a wire sample."""
    return hmac.new(key, canonical_bytes(wire), hashlib.sha256).hexdigest()


def verify(wire: dict, signature: str, key: bytes) -> bool:
    """Check a signature in constant time."""
    return hmac.compare_digest(sign(wire, key), signature)


def envelope(wire: dict, key: bytes) -> dict:
    """Return the notification payload for a wire sample."""
    return {'sample': wire, 'signature': sign(wire, key)}
