"""GitHub's webhook signature: ``X-Hub-Signature-256: sha256=<hex HMAC-SHA256 of the raw body>``.

Shared by the receiver (``ailab.sync.webhooks``) and the simulator's sender; no other imports.
"""

from __future__ import annotations

import hashlib
import hmac

from ailab.settings import Secret

SIGNATURE_PREFIX = "sha256="


def sign(secret: Secret | str | bytes, body: bytes) -> str:
    """The ``X-Hub-Signature-256`` value GitHub sends for ``body``."""
    key = secret.reveal() if isinstance(secret, Secret) else secret
    raw = key.encode() if isinstance(key, str) else key
    return SIGNATURE_PREFIX + hmac.new(raw, body, hashlib.sha256).hexdigest()


def signature_ok(secret: Secret, body: bytes, header: str | None) -> bool:
    """True when ``header`` is the body's signature under ``secret`` (compared in constant time)."""
    if not header:
        return False
    expected = sign(secret, body).encode()
    given = header.strip().encode("latin-1", errors="replace")
    return hmac.compare_digest(expected, given)
