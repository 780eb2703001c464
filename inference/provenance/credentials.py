"""Content Credentials (C2PA manifests) through ``c2pa-python``: what a file's claim says, signing, reading.

The claim generator is ``persona-studio`` with its version. Actions, first one as C2PA requires (``created``
or ``opened``):

- a picture made by a model, with no parent: ``c2pa.created`` with ``trainedAlgorithmicMedia``;
- a file derived from a parent (an export rendition, a swap into a photo): ``c2pa.opened`` on the parent
  ingredient, then ``c2pa.edited`` carrying the file's own digital source type (``trainedAlgorithmicMedia``
  for a rendition of a generated picture, ``compositeWithTrainedAlgorithmicMedia`` for an AI edit, none for a
  rendition of a user's own upload, which is never claimed as AI-made);
- an edit without a stored parent (an identity refinement of a fresh generation): ``c2pa.created`` with
  ``compositeWithTrainedAlgorithmicMedia``;
- ``c2pa.watermarked`` when an invisible watermark was embedded, with a ``c2pa.soft-binding`` assertion that
  records its algorithm and payload, so a reader can match the two layers.

Ingredients carry a neutral title (``#<asset id>``), never a user's file name; the SDK adds their hash and
any manifest they carry (so a rendition of our own signed result keeps the chain). Thumbnails are off: they
cost most of the signing time and an ingredient thumbnail would copy a user's original photo into every
published file.
"""

from __future__ import annotations

import base64
import io
import json
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cache
from importlib import metadata
from pathlib import Path
from typing import IO, Any, Literal

import c2pa as c2pa_sdk

from inference.provenance import labels
from inference.provenance.keys import SigningKeys
from storage.states import AssetOrigin

GENERATOR = "persona-studio"
SOFT_BINDING_ALG = "io.persona-studio.watermark.psw1"
MIME = {"jpeg": "image/jpeg", "png": "image/png", "webp": "image/webp", "mp4": "video/mp4", "mov": "video/quicktime"}
Relationship = Literal["parentOf", "componentOf", "inputTo"]
# Validation codes that mean the file changed after signing (as opposed to an unknown signer).
TAMPER_CODES = ("assertion.dataHash.mismatch", "assertion.bmffHash.mismatch", "assertion.boxesHash.mismatch",
                "assertion.hashedURI.mismatch", "claimSignature.mismatch", "assertion.collectionHash.mismatch")


class CredentialError(RuntimeError):
    """Signing failed; the message says why (the SDK's own words)."""


@cache
def studio_version() -> str:
    """This installation's version, as the claim generator states it."""
    try:
        return metadata.version("persona-studio")
    except metadata.PackageNotFoundError:
        return "0.1.0"


@dataclass(frozen=True)
class Ingredient:
    """A file the signed one was made from."""

    path: Path
    asset_id: str
    relationship: Relationship = "parentOf"
    mime: str | None = None  # found from the file's first bytes when None


@dataclass(frozen=True)
class Claim:
    """What a manifest says about one file."""

    origin: AssetOrigin
    asset_id: str
    title: str
    note: str = ""  # what was done, in words (an export: "fitted to Instagram feed 1080×1350 by cropping")
    ingredients: tuple[Ingredient, ...] = ()
    watermark: str | None = None  # the payload embedded in the pixels (asset id prefix), when there is one

    @property
    def parent(self) -> Ingredient | None:
        """The parent ingredient, if any."""
        return next((item for item in self.ingredients if item.relationship == "parentOf"), None)


def _instance(ingredient: Ingredient, index: int) -> str:
    return f"ingredient-{index}-{ingredient.asset_id}"


def actions(claim: Claim) -> list[dict[str, Any]]:
    """The ``c2pa.actions.v2`` list for ``claim`` (see the module docstring for the rules)."""
    agent = {"name": GENERATOR, "version": studio_version()}
    code = labels.source_type(claim.origin)
    parent = claim.parent
    inputs = [_instance(item, i) for i, item in enumerate(claim.ingredients) if item.relationship != "parentOf"]
    steps: list[dict[str, Any]] = []
    if parent is not None:
        steps.append({"action": "c2pa.opened", "softwareAgent": agent,
                      "parameters": {"ingredientIds": [_instance(parent, claim.ingredients.index(parent))]}})
        edited: dict[str, Any] = {"action": "c2pa.edited", "softwareAgent": agent,
                                  "description": claim.note or "changed by Persona Studio"}
        if code:
            edited["digitalSourceType"] = code
        if inputs:
            edited["parameters"] = {"ingredientIds": inputs}
        steps.append(edited)
    else:
        if code is None:
            raise ValueError("a user's upload is signed only as a rendition of itself: pass the upload as the "
                             "parent ingredient (it is never claimed as created here)")
        created: dict[str, Any] = {"action": "c2pa.created", "softwareAgent": agent, "digitalSourceType": code}
        if claim.note:
            created["description"] = claim.note
        if inputs:
            created["parameters"] = {"ingredientIds": inputs}
        steps.append(created)
    if claim.watermark:
        steps.append({"action": "c2pa.watermarked", "softwareAgent": agent,
                      "description": "invisible watermark carrying the asset id prefix"})
    return steps


def manifest(claim: Claim) -> dict[str, Any]:
    """The manifest definition the SDK's ``Builder`` takes."""
    assertions: list[dict[str, Any]] = [{"label": "c2pa.actions.v2", "data": {"actions": actions(claim)}}]
    if claim.watermark:
        value = base64.b64encode(claim.watermark.encode("ascii")).decode("ascii")
        assertions.append({"label": "c2pa.soft-binding",
                           "data": {"alg": SOFT_BINDING_ALG, "blocks": [{"scope": {}, "value": value}]}})
    return {
        "claim_generator_info": [{"name": GENERATOR, "version": studio_version()}],
        "title": claim.title,
        "assertions": assertions,
    }


def sniff(head: bytes) -> str | None:
    """The container of a file from its first bytes: jpeg, png, webp, mp4 or mov; None for anything else."""
    if head.startswith(b"\xff\xd8\xff"):
        return "jpeg"
    if head.startswith(b"\x89PNG\r\n\x1a\n"):
        return "png"
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return "webp"
    if head[4:8] == b"ftyp":
        return "mov" if head[8:10] == b"qt" else "mp4"
    return None


def sniff_file(path: Path) -> str | None:
    """``sniff`` of the file at ``path`` (None when it cannot be read)."""
    try:
        with open(path, "rb") as handle:
            return sniff(handle.read(16))
    except OSError:
        return None


class Signer:
    """Signs files with one key set; one per process, safe to share between threads."""

    def __init__(self, keys: SigningKeys) -> None:
        self.keys = keys
        self._lock = threading.Lock()
        # No thumbnails (see the module docstring), and no read-back of each file just signed: the round trip
        # is what the tests check, and it would add a third to the signing time.
        self._context = c2pa_sdk.Context(settings=c2pa_sdk.Settings.from_dict(
            {"builder": {"thumbnail": {"enabled": False}}, "verify": {"verify_after_sign": False}}))

        self._signer: c2pa_sdk.Signer | None = None

    def _sdk_signer(self) -> c2pa_sdk.Signer:
        """The SDK's signer, made once: parsing the key and chain again for every file cost a sixth of the
        signing time of an export rendition (call with the lock held)."""
        if self._signer is None:
            info = c2pa_sdk.C2paSignerInfo(alg=self.keys.alg.encode("ascii"), sign_cert=self.keys.chain_pem,
                                           private_key=self.keys.key_pem, ta_url=None)
            self._signer = c2pa_sdk.Signer.from_info(info)
        return self._signer

    def sign_stream(self, claim: Claim, mime: str, source: IO[bytes], dest: IO[bytes]) -> None:
        """Write ``source`` with ``claim``'s signed manifest embedded into ``dest`` (opened ``w+b``)."""
        try:
            with self._lock:  # the SDK's builder and signer objects are not meant for concurrent use
                builder = c2pa_sdk.Builder(manifest(claim), self._context)
                for index, item in enumerate(claim.ingredients):
                    kind = item.mime or MIME.get(sniff_file(item.path) or "", "application/octet-stream")
                    with open(item.path, "rb") as handle:
                        builder.add_ingredient({"title": f"#{item.asset_id}", "relationship": item.relationship,
                                                "instance_id": _instance(item, index)}, kind, handle)
                builder.sign(self._sdk_signer(), mime, source, dest)
        except c2pa_sdk.C2paError as exc:
            raise CredentialError(f"could not sign the file: {exc}") from exc

    def sign_bytes(self, claim: Claim, mime: str, data: bytes) -> bytes:
        """``data`` with ``claim``'s signed manifest embedded."""
        out = io.BytesIO()
        self.sign_stream(claim, mime, io.BytesIO(data), out)
        return out.getvalue()

    def sign_file(self, claim: Claim, mime: str, source: Path, dest: Path) -> Path:
        """The file at ``source`` signed into ``dest`` (a different path)."""
        with open(source, "rb") as src, open(dest, "w+b") as out:
            self.sign_stream(claim, mime, src, out)
        return dest


@dataclass(frozen=True)
class Credentials:
    """What reading a file's Content Credentials found."""

    state: Literal["signed-here", "valid", "invalid"]  # ours and intact / intact, unknown signer / broken
    signer: str  # the signing certificate's common name and organisation
    generator: str  # claim generator name and version
    actions: tuple[tuple[str, str | None], ...]  # (action, digital source type) of the active manifest
    failures: tuple[str, ...]  # validation failure codes (an unknown signer's "untrusted" included)
    watermark: str | None = None  # the soft-binding payload it records, if ours
    ingredients: int = 0

    @property
    def tampered(self) -> bool:
        """Whether the file's content no longer matches what was signed."""
        return any(code in TAMPER_CODES or code.endswith(".mismatch") for code in self.failures)

    @property
    def source_type(self) -> str | None:
        """The digital source type the manifest claims (the first action that states one)."""
        return next((code for _, code in self.actions if code), None)


def _signer_name(info: dict[str, Any]) -> str:
    name = info.get("common_name") or ""
    issuer = info.get("issuer") or ""
    return f"{name} ({issuer})" if name and issuer and issuer not in name else name or issuer or "unknown signer"


def read(path: Path, *, anchors_pem: bytes, container: str) -> Credentials | None:
    """The Content Credentials in the file at ``path`` (a ``container`` from ``sniff``), None when it has none.

    ``anchors_pem`` are the CAs whose signatures count as "signed here". Raises ``CredentialError`` when the
    SDK cannot parse the file at all (a broken or truncated container).
    """
    try:
        with _reader_context(anchors_pem) as context, open(path, "rb") as handle:
            reader = c2pa_sdk.Reader.try_create(MIME[container], handle, None, context)
            if reader is None:
                return None
            with reader:
                store = json.loads(reader.json())
                state = reader.get_validation_state() or ""
    except c2pa_sdk.C2paError as exc:
        raise CredentialError(str(exc)) from exc
    active = store.get("manifests", {}).get(store.get("active_manifest", ""), {})
    results = store.get("validation_results", {}).get("activeManifest", {}) or {}
    failures = tuple(str(item.get("code", "")) for item in results.get("failure", []))
    found: list[tuple[str, str | None]] = []
    watermark = None
    for assertion in active.get("assertions", []):
        label = str(assertion.get("label", ""))
        data = assertion.get("data") or {}
        if label.startswith("c2pa.actions"):
            found += [(str(a.get("action", "")), a.get("digitalSourceType")) for a in data.get("actions", [])]
        elif label.startswith("c2pa.soft-binding") and data.get("alg") == SOFT_BINDING_ALG:
            blocks = data.get("blocks") or [{}]
            try:
                watermark = base64.b64decode(str(blocks[0].get("value", ""))).decode("ascii")
            except (ValueError, UnicodeDecodeError):
                watermark = None
    generator = ", ".join(f"{g.get('name', '')} {g.get('version', '')}".strip()
                          for g in active.get("claim_generator_info", [])) or str(active.get("claim_generator", ""))
    verdict: Literal["signed-here", "valid", "invalid"]
    if state == "Invalid" or any(code != "signingCredential.untrusted" for code in failures):
        verdict = "invalid"
    elif state == "Trusted":
        verdict = "signed-here"
    else:
        verdict = "valid"
    return Credentials(state=verdict, signer=_signer_name(active.get("signature_info") or {}),
                       generator=generator, actions=tuple(found), failures=failures, watermark=watermark,
                       ingredients=len(active.get("ingredients", [])))


def _reader_context(anchors_pem: bytes) -> c2pa_sdk.Context:
    """A reader context trusting ``anchors_pem`` (a few milliseconds to build: made per read)."""
    trust = {"trust": {"trust_anchors": anchors_pem.decode("ascii")}} if anchors_pem else {}
    return c2pa_sdk.Context(settings=c2pa_sdk.Settings.from_dict(trust))


def describe_actions(found: Sequence[tuple[str, str | None]]) -> str:
    """The actions in a few words: "created (AI-generated), watermarked"."""
    parts = []
    for action, code in found:
        name = action.removeprefix("c2pa.")
        parts.append(f"{name} ({labels.describe(code)})" if code else name)
    return ", ".join(parts)
