"""Signing keys: made once per data folder even when several processes start together, the private key
readable by its owner only, a configured chain used as given and refused clearly when it cannot sign."""

from __future__ import annotations

import io
import multiprocessing
import stat
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from PIL import Image

from core.errors import NotAvailable
from core.settings import Settings
from inference.provenance import stamp, verify
from inference.provenance.keys import ANCHORS_FILE, CHAIN_FILE, KEY_FILE, load_keys, local_keys


def _fingerprint(folder: str) -> str:
    return local_keys(Path(folder)).fingerprint


def test_local_keys_are_made_once_even_by_processes_starting_together(tmp_path: Path) -> None:
    folder = tmp_path / "provenance"
    # A fork server's children, not forks of this process: a fork would copy whatever lock another thread of the
    # test session holds at that moment.
    with multiprocessing.get_context("forkserver").Pool(4) as pool:
        prints = pool.map(_fingerprint, [str(folder)] * 8)
    assert len(set(prints)) == 1, "every process signs with the same key"
    assert stat.S_IMODE((folder / KEY_FILE).stat().st_mode) == 0o600
    chain = x509.load_pem_x509_certificates((folder / CHAIN_FILE).read_bytes())
    assert len(chain) == 2 and chain[0].issuer == chain[1].subject
    assert len(x509.load_pem_x509_certificates((folder / ANCHORS_FILE).read_bytes())) == 1
    assert sorted(p.name for p in folder.iterdir()) == sorted([".lock", ANCHORS_FILE, CHAIN_FILE, KEY_FILE]), \
        "no temporary files are left"
    keys = local_keys(folder)
    assert keys.local and keys.alg == "es256" and keys.fingerprint == prints[0]


def test_a_configured_chain_signs_and_is_checked(settings: Settings, tmp_path: Path) -> None:
    issued = tmp_path / "issued"
    made = local_keys(issued)  # a CA + leaf pair, standing in for one an operator bought
    configured = settings.model_copy(update={"c2pa_cert": str(issued / CHAIN_FILE),
                                             "c2pa_key": made.key_pem.decode()})  # a path, and PEM text
    keys = load_keys(configured)
    assert not keys.local and keys.fingerprint == made.fingerprint and keys.where.startswith("STUDIO_C2PA")
    picture = tmp_path / "a.jpg"
    picture.write_bytes(_jpeg())
    stamp(picture, kind="image", origin="generated", asset_id="abcdef0123456789", settings=configured)
    report = verify(picture, settings=configured)
    assert report.credentials is not None and report.credentials.state == "signed-here" and not report.local_key
    assert not (configured.resolved_data_dir / "provenance").exists(), "no local key is made when one is set"

    with pytest.raises(NotAvailable, match="set both"):
        load_keys(settings.model_copy(update={"c2pa_cert": str(issued / CHAIN_FILE)}))
    with pytest.raises(NotAvailable, match="cannot be read"):
        load_keys(configured.model_copy(update={"c2pa_cert": str(tmp_path / "nope.pem")}))
    other = ec.generate_private_key(ec.SECP256R1()).private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()).decode()
    with pytest.raises(NotAvailable, match="does not belong"):
        load_keys(configured.model_copy(update={"c2pa_key": other}))
    leaf_only = x509.load_pem_x509_certificates(made.chain_pem)[0].public_bytes(serialization.Encoding.PEM)
    with pytest.raises(NotAvailable, match="followed by the CA"):
        load_keys(configured.model_copy(update={"c2pa_cert": leaf_only.decode()}))
    with pytest.raises(NotAvailable, match="not a PEM certificate"):
        load_keys(configured.model_copy(update={"c2pa_cert": "-----BEGIN CERTIFICATE-----\nbroken"}))


def test_a_leaf_close_to_expiry_is_renewed_and_the_old_ca_still_trusted(tmp_path: Path) -> None:
    folder = tmp_path / "provenance"
    first = local_keys(folder)
    leaf, ca = x509.load_pem_x509_certificates(first.chain_pem)
    # The same leaf ending in ten days, as an old installation's would (signed by a stand-in: only its dates
    # are read when deciding to renew).
    ending = (x509.CertificateBuilder().subject_name(leaf.subject).issuer_name(leaf.issuer)
              .public_key(leaf.public_key()).serial_number(x509.random_serial_number())
              .not_valid_before(leaf.not_valid_before_utc).not_valid_after(datetime.now(UTC) + timedelta(days=10))
              .sign(ec.generate_private_key(ec.SECP256R1()), hashes.SHA256()))
    pem = serialization.Encoding.PEM
    (folder / CHAIN_FILE).write_bytes(ending.public_bytes(pem) + ca.public_bytes(pem))
    renewed = local_keys(folder)
    assert renewed.fingerprint not in (first.fingerprint, ending.fingerprint(hashes.SHA256()).hex())
    assert renewed.certificate.not_valid_after_utc > datetime.now(UTC) + timedelta(days=700)
    anchors = x509.load_pem_x509_certificates(renewed.anchors_pem)
    assert len(anchors) == 2 and anchors[0].subject == ca.subject, "files signed before the renewal stay ours"


def _jpeg() -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (320, 240), (90, 120, 150)).save(buffer, "JPEG")
    return buffer.getvalue()
