"""The seed's legacy password formats.

The Flask seed stored unsalted SHA-256 hex digests (and later Werkzeug PBKDF2).
`LegacySHA256PasswordHasher` accepts the first once; Django then re-hashes the
password with the default hasher on the successful login (`must_update`).
`normalize_legacy_hash` turns raw seed values into forms Django understands.
"""

from __future__ import annotations

import base64
import hashlib
import re

from django.contrib.auth.hashers import BasePasswordHasher, mask_hash
from django.utils.crypto import constant_time_compare
from django.utils.translation import gettext_noop as _

ALGORITHM = "legacy_sha256"
_HEX64 = re.compile(r"^[0-9a-f]{64}$")
_WERKZEUG_PBKDF2 = re.compile(r"^pbkdf2:sha256:(?P<iterations>\d+)\$(?P<salt>[^$]+)\$(?P<hash>[0-9a-f]+)$")


class LegacySHA256PasswordHasher(BasePasswordHasher):
    """Unsalted SHA-256, stored as `legacy_sha256$$<hex>`; never used to hash new passwords."""

    algorithm = ALGORITHM

    def salt(self) -> str:
        return ""

    def encode(self, password: str, salt: str) -> str:
        if salt != "":
            raise ValueError("salt must be empty.")
        digest = hashlib.sha256(password.encode()).hexdigest()
        return f"{self.algorithm}$${digest}"

    def decode(self, encoded: str) -> dict:
        algorithm, salt, digest = encoded.split("$", 2)
        assert algorithm == self.algorithm
        return {"algorithm": algorithm, "hash": digest, "salt": salt}

    def verify(self, password: str, encoded: str) -> bool:
        return constant_time_compare(encoded, self.encode(password, ""))

    def safe_summary(self, encoded: str) -> dict:
        decoded = self.decode(encoded)
        return {_("algorithm"): decoded["algorithm"], _("hash"): mask_hash(decoded["hash"])}

    def must_update(self, encoded: str) -> bool:
        return True

    def harden_runtime(self, password: str, encoded: str) -> None:
        pass


def normalize_legacy_hash(stored: str) -> str | None:
    """Return a Django-readable form of a seed password hash, or None if it is not a seed format.

    - 64 hex chars (unsalted SHA-256)  -> `legacy_sha256$$<hex>` (upgraded on next login)
    - Werkzeug `pbkdf2:sha256:N$salt$hex` -> Django's `pbkdf2_sha256$N$salt$<base64>` (same derivation)
    """
    value = stored.strip()
    if _HEX64.match(value):
        return f"{ALGORITHM}$${value}"
    match = _WERKZEUG_PBKDF2.match(value)
    if match:
        digest = base64.b64encode(bytes.fromhex(match["hash"])).decode()
        return f"pbkdf2_sha256${match['iterations']}${match['salt']}${digest}"
    return None


def is_legacy(encoded: str) -> bool:
    return encoded.startswith(f"{ALGORITHM}$") or normalize_legacy_hash(encoded) is not None
