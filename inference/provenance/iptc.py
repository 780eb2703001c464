"""The IPTC digital source type in a file's own metadata: XMP in JPEG, PNG and WebP, tags in MP4.

This is the older, unsigned layer that platforms read next to Content Credentials. The XMP property is
``Iptc4xmpExt:DigitalSourceType``; in MP4 the code is the ``comment`` tag and a readable note the
``description``.
"""

from __future__ import annotations

import io
import xml.etree.ElementTree as ET
from pathlib import Path
from xml.sax.saxutils import escape

from PIL import Image, PngImagePlugin

from inference.media import MediaError, read_tags
from inference.provenance.labels import label_text

IPTC_EXT_NS = "http://iptc.org/std/Iptc4xmpExt/2008-02-29/"
CREATOR_TOOL = "Persona Studio"
PNG_XMP_KEY = "XML:com.adobe.xmp"


def xmp_packet(source_type: str | None, *, description: str | None = None) -> bytes:
    """A complete XMP packet with the digital source type (none for an upload: only the creator tool)."""
    lines = [
        '<?xpacket begin="\ufeff" id="W5M0MpCehiHzreSzNTczkc9d"?>',
        '<x:xmpmeta xmlns:x="adobe:ns:meta/">',
        ' <rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#">',
        '  <rdf:Description rdf:about=""',
        f'    xmlns:Iptc4xmpExt="{IPTC_EXT_NS}"',
        '    xmlns:dc="http://purl.org/dc/elements/1.1/"',
        '    xmlns:xmp="http://ns.adobe.com/xap/1.0/">',
    ]
    if source_type:
        lines.append(f"   <Iptc4xmpExt:DigitalSourceType>{escape(source_type)}</Iptc4xmpExt:DigitalSourceType>")
    lines.append(f"   <xmp:CreatorTool>{escape(CREATOR_TOOL)}</xmp:CreatorTool>")
    text = description if description is not None else (label_text(source_type) if source_type else "")
    if text:
        lines.append(f'   <dc:description><rdf:Alt><rdf:li xml:lang="x-default">{escape(text)}</rdf:li></rdf:Alt>'
                     "</dc:description>")
    lines += ["  </rdf:Description>", " </rdf:RDF>", "</x:xmpmeta>", '<?xpacket end="w"?>']
    return "\n".join(lines).encode("utf-8")


def digital_source_type(xmp: bytes | str) -> str | None:
    """The ``Iptc4xmpExt:DigitalSourceType`` in an XMP packet; None when it has none or cannot be parsed."""
    text = xmp.decode("utf-8", "replace") if isinstance(xmp, bytes) else xmp
    start, end = text.find("<x:xmpmeta"), text.rfind("</x:xmpmeta>")
    if start < 0 or end < 0:
        return None
    try:
        root = ET.fromstring(text[start:end + len("</x:xmpmeta>")])
    except ET.ParseError:
        return None
    tag = f"{{{IPTC_EXT_NS}}}DigitalSourceType"
    for element in root.iter():
        if element.tag == tag and element.text:
            return element.text.strip()
        value = element.attrib.get(tag)  # the attribute form other writers use
        if value:
            return value.strip()
    return None


def image_xmp(image: Image.Image) -> bytes | str | None:
    """The XMP packet Pillow found in an opened image (JPEG APP1, PNG iTXt, WebP chunk), if any."""
    found = image.info.get("xmp") or image.info.get(PNG_XMP_KEY)
    return found if isinstance(found, bytes | str) else None


def png_info(source_type: str | None) -> PngImagePlugin.PngInfo:
    """PNG text chunks carrying the XMP packet."""
    info = PngImagePlugin.PngInfo()
    info.add_itxt(PNG_XMP_KEY, xmp_packet(source_type).decode("utf-8"), zip=False)
    return info


def mp4_tags(source_type: str | None) -> dict[str, str]:
    """MP4 metadata tags: the IPTC code as the comment, a readable note as the description."""
    if not source_type:
        return {"description": CREATOR_TOOL}
    return {"comment": source_type, "description": f"{label_text(source_type)} · {CREATOR_TOOL}"}


def read_source_type(path: Path, container: str) -> str | None:
    """The digital source type a file states in its metadata, None when it states none or cannot be read."""
    if container in ("mp4", "mov"):
        try:
            comment = read_tags(path).get("comment", "")
        except (MediaError, OSError):
            return None
        return comment.strip() if comment.strip().startswith("http://cv.iptc.org/") else None
    try:
        with Image.open(path) as image:
            xmp = image_xmp(image)
    except (OSError, ValueError, Image.DecompressionBombError, SyntaxError):
        return None
    return digital_source_type(xmp) if xmp else None


def bytes_source_type(data: bytes) -> str | None:
    """``read_source_type`` for an image held in memory."""
    with Image.open(io.BytesIO(data)) as image:
        xmp = image_xmp(image)
    return digital_source_type(xmp) if xmp else None
