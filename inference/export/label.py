"""The AI label in exported files, by the asset's origin: generated → ``trainedAlgorithmicMedia``, edited →
``compositeWithTrainedAlgorithmicMedia``, a user's own upload → none.

The XMP packet (JPEG) and MP4 tags themselves are written by ``inference.provenance.iptc``, which the
delivered chat results use too; this module keeps the names exports and their tests use.
"""

from __future__ import annotations

from inference.provenance.iptc import bytes_source_type, digital_source_type, mp4_tags, xmp_packet
from inference.provenance.labels import COMPOSITE, TRAINED, label_text, source_type

__all__ = ["COMPOSITE", "TRAINED", "digital_source_type", "jpeg_source_type", "label_text", "mp4_tags",
           "source_type", "xmp_packet"]


def jpeg_source_type(data: bytes) -> str | None:
    """The digital source type labelled in a JPEG file's XMP, or None."""
    return bytes_source_type(data)
