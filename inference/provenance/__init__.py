"""Provenance: Content Credentials (signed C2PA manifests), the IPTC AI label and an invisible watermark on
every file the studio delivers, and ``verify`` to read all three back.

Public surface:

- ``stamp(path, *, kind, origin, asset_id, settings, ingredients=(), note="", mark=True, stamper=None)``
  watermarks and signs a finished image or video in place; ``Stamper`` keeps the keys for a worker's lifetime
  and offers the pieces exports use (``mark_image``, ``video_filter``, ``sign_bytes``).
- ``verify(path, *, settings, db=None, owner_id=None) -> VerifyReport``; ``VerifyReport.answer()`` is the
  short text for a chat or a terminal.
- ``load_keys(settings)`` and ``SigningKeys``: the configured chain or the local CA made on first use.

Module names avoid the libraries they use (``credentials`` wraps the ``c2pa`` package).
"""

from __future__ import annotations

from inference.provenance.credentials import Claim, Ingredient
from inference.provenance.keys import SigningKeys, load_keys
from inference.provenance.stamp import Stamper, stamp
from inference.provenance.verify import VerifyReport, verify

__all__ = ["Claim", "Ingredient", "SigningKeys", "Stamper", "VerifyReport", "load_keys", "stamp", "verify"]
