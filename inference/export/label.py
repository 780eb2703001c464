"""The AI-generated label in exported files: an XMP packet for JPEGs, metadata tags for MP4s, and reading both.

The XMP property is IPTC's ``Iptc4xmpExt:DigitalSourceType`` with the ``trainedAlgorithmicMedia`` code, which
is what platforms read to mark an upload as made with AI.
"""

from __future__ import annotations

import io
import xml.etree.ElementTree as ET
from xml.sax.saxutils import escape

from PIL import Image

from core.platforms import AI_LABEL_TEXT, AI_SOURCE_TYPE

IPTC_EXT_NS = "http://iptc.org/std/Iptc4xmpExt/2008-02-29/"
CREATOR_TOOL = "Persona Studio"


def xmp_packet(*, source_type: str = AI_SOURCE_TYPE, description: str = AI_LABEL_TEXT) -> bytes:
    """A complete XMP packet (as written into a JPEG's APP1 segment) carrying the digital source type."""
    packet = (
        '<?xpacket begin="\ufeff" id="W5M0MpCehiHzreSzNTczkc9d"?>\n'
        '<x:xmpmeta xmlns:x="adobe:ns:meta/">\n'
        ' <rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#">\n'
        '  <rdf:Description rdf:about=""\n'
        f'    xmlns:Iptc4xmpExt="{IPTC_EXT_NS}"\n'
        '    xmlns:dc="http://purl.org/dc/elements/1.1/"\n'
        '    xmlns:xmp="http://ns.adobe.com/xap/1.0/">\n'
        f"   <Iptc4xmpExt:DigitalSourceType>{escape(source_type)}</Iptc4xmpExt:DigitalSourceType>\n"
        f"   <xmp:CreatorTool>{escape(CREATOR_TOOL)}</xmp:CreatorTool>\n"
        '   <dc:description><rdf:Alt><rdf:li xml:lang="x-default">'
        f"{escape(description)}</rdf:li></rdf:Alt></dc:description>\n"
        "  </rdf:Description>\n"
        " </rdf:RDF>\n"
        "</x:xmpmeta>\n"
        '<?xpacket end="w"?>'
    )
    return packet.encode("utf-8")


def digital_source_type(xmp: bytes | str) -> str | None:
    """The ``Iptc4xmpExt:DigitalSourceType`` in an XMP packet, or None when it has none."""
    text = xmp.decode("utf-8", "replace") if isinstance(xmp, bytes) else xmp
    start, end = text.find("<x:xmpmeta"), text.rfind("</x:xmpmeta>")
    if start < 0 or end < 0:
        return None
    root = ET.fromstring(text[start:end + len("</x:xmpmeta>")])
    tag = f"{{{IPTC_EXT_NS}}}DigitalSourceType"
    for element in root.iter():
        if element.tag == tag and element.text:
            return element.text.strip()
        value = element.attrib.get(tag)  # the attribute form other writers use
        if value:
            return value.strip()
    return None


def jpeg_source_type(data: bytes) -> str | None:
    """The digital source type labelled in a JPEG file's XMP, or None."""
    with Image.open(io.BytesIO(data)) as image:
        xmp = image.info.get("xmp")
    return digital_source_type(xmp) if xmp else None


def mp4_tags(*, source_type: str = AI_SOURCE_TYPE, description: str = AI_LABEL_TEXT) -> dict[str, str]:
    """MP4 metadata tags carrying the label: the IPTC code as the comment, a readable note as description."""
    return {"comment": source_type, "description": f"{description} · {CREATOR_TOOL}"}
