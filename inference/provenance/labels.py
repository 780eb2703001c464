"""What a file may honestly say about how it was made, from its asset's origin.

IPTC's digital source types (the codes platforms read from XMP and from C2PA actions): a picture a model made
is ``trainedAlgorithmicMedia``; someone's picture changed by a model (a face swap, an identity refinement) is
``compositeWithTrainedAlgorithmicMedia``; a user's own upload gets no code at all, because the studio does not
know how it was made and must never claim it as AI-made.
"""

from __future__ import annotations

from core.platforms import AI_SOURCE_TYPE
from storage.states import AssetOrigin

IPTC_CODES = "http://cv.iptc.org/newscodes/digitalsourcetype/"
TRAINED = AI_SOURCE_TYPE
COMPOSITE = IPTC_CODES + "compositeWithTrainedAlgorithmicMedia"
_TEXT = {
    TRAINED: "AI-generated (IPTC digital source type: trainedAlgorithmicMedia)",
    COMPOSITE: "Edited with AI (IPTC digital source type: compositeWithTrainedAlgorithmicMedia)",
}
_SHORT = {TRAINED: "AI-generated", COMPOSITE: "edited with AI"}


def origin_of(value: AssetOrigin | str) -> AssetOrigin:
    """``value`` as an ``AssetOrigin``; ``ValueError`` names the accepted values."""
    try:
        return AssetOrigin(value)
    except ValueError:
        names = ", ".join(origin.value for origin in AssetOrigin)
        raise ValueError(f"origin must be one of {names}, got {value!r}") from None


def source_type(origin: AssetOrigin | str) -> str | None:
    """The IPTC digital source type an asset of ``origin`` carries, None for a user's own upload."""
    return {AssetOrigin.GENERATED: TRAINED, AssetOrigin.EDITED: COMPOSITE}.get(origin_of(origin))


def label_text(code: str) -> str:
    """A readable note for a digital source type code (written beside it in XMP and MP4 tags)."""
    return _TEXT.get(code, f"IPTC digital source type: {short_code(code)}")


def describe(code: str) -> str:
    """A few words for a chat answer: "AI-generated", "edited with AI", or the code's own name."""
    return _SHORT.get(code, short_code(code))


def short_code(code: str) -> str:
    """The code's last part (``trainedAlgorithmicMedia``), as IPTC writes it."""
    return code.rstrip("/").rsplit("/", 1)[-1]
