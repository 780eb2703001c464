"""The key and certificate chain that sign Content Credentials.

An operator configures a chain issued by a CA they trust with ``STUDIO_C2PA_CERT`` (PEM: the signing
certificate first, then its issuers) and ``STUDIO_C2PA_KEY`` (its PEM private key), each as a file path or as
the PEM text itself. Without them the studio makes, once, in ``<data dir>/provenance/``, a local CA and a
signing certificate it issues (EC P-256, digitalSignature, the emailProtection extended key usage that C2PA
signers carry, subject and authority key ids); the C2PA SDK refuses a self-signed leaf, hence the CA.
Validators outside this installation call that chain untrusted until a real one is configured; this
installation trusts every CA it ever made (``anchors.pem``), so it can still say "signed here" about files it
signed before a renewal.

Several processes (workers, the CLI) may start at once: creation happens under an exclusive lock on
``<folder>/.lock`` and every file is written to a temporary name and renamed into place, so a reader sees a
whole key set or none. The private key file is created with mode 0600.
"""

from __future__ import annotations

import datetime as dt
import fcntl
import hashlib
import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from core.errors import NotAvailable
from core.settings import Settings

FOLDER = "provenance"
CHAIN_FILE = "signer-chain.pem"
KEY_FILE = "signer-key.pem"
ANCHORS_FILE = "anchors.pem"
LOCK_FILE = ".lock"
CA_DAYS = 3650
LEAF_DAYS = 825  # the longest leaf validity browsers accept; renewed 30 days before it ends
RENEW_BEFORE = dt.timedelta(days=30)
ORGANIZATION = "Persona Studio"


@dataclass(frozen=True)
class SigningKeys:
    """A signing chain and key, and the roots this installation trusts."""

    chain_pem: bytes  # signing certificate first, then its issuers
    key_pem: bytes
    anchors_pem: bytes  # CA certificates whose signatures count as "signed here"
    alg: str  # the C2PA signing algorithm for the key: es256, es384, es512, ps256 or ed25519
    local: bool  # made by the studio itself (untrusted outside this installation)
    where: str  # where they came from, for status output

    @property
    def certificate(self) -> x509.Certificate:
        """The signing (leaf) certificate."""
        return x509.load_pem_x509_certificates(self.chain_pem)[0]

    @property
    def fingerprint(self) -> str:
        """SHA-256 of the signing certificate, as hex pairs."""
        digest = self.certificate.fingerprint(hashes.SHA256())
        return ":".join(f"{byte:02X}" for byte in digest)


def _read_pem(value: str, what: str) -> bytes:
    """``value`` as PEM bytes: the text itself when it is PEM, else the file it names."""
    if value.lstrip().startswith("-----BEGIN"):
        return value.strip().encode("ascii") + b"\n"
    path = Path(value).expanduser()
    try:
        return path.read_bytes()
    except OSError as exc:
        raise NotAvailable(f"{what} names {path}, which cannot be read ({exc.strerror}); give the path of a PEM "
                           "file or the PEM text itself") from None


def _algorithm(key: object) -> str:
    if isinstance(key, ec.EllipticCurvePrivateKey):
        curves = {"secp256r1": "es256", "secp384r1": "es384", "secp521r1": "es512"}
        if key.curve.name in curves:
            return curves[key.curve.name]
        raise NotAvailable(f"STUDIO_C2PA_KEY is an EC key on {key.curve.name}; C2PA signs with P-256, P-384 or P-521")
    if isinstance(key, rsa.RSAPrivateKey):
        return "ps256"
    if isinstance(key, ed25519.Ed25519PrivateKey):
        return "ed25519"
    raise NotAvailable("STUDIO_C2PA_KEY must be an EC (P-256/384/521), RSA or Ed25519 private key")


def _checked(chain_pem: bytes, key_pem: bytes, *, what: str) -> tuple[list[x509.Certificate], str]:
    """The chain's certificates and the key's algorithm; ``NotAvailable`` says what is wrong with them."""
    try:
        certificates = x509.load_pem_x509_certificates(chain_pem)
    except ValueError:
        raise NotAvailable(f"{what}: the certificate is not a PEM certificate chain") from None
    try:
        key = serialization.load_pem_private_key(key_pem, password=None)
    except (ValueError, TypeError):
        raise NotAvailable(f"{what}: the key is not an unencrypted PEM private key") from None
    leaf_key = certificates[0].public_key()
    own = key.public_key().public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    theirs = leaf_key.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    if own != theirs:
        raise NotAvailable(f"{what}: the key does not belong to the first certificate of the chain")
    if len(certificates) < 2:
        raise NotAvailable(f"{what}: the chain has one certificate; C2PA needs the signing certificate followed "
                           "by the CA that issued it (a self-signed certificate is refused)")
    now = dt.datetime.now(dt.UTC)
    if certificates[0].not_valid_after_utc <= now:
        raise NotAvailable(f"{what}: the signing certificate expired on {certificates[0].not_valid_after_utc:%Y-%m-%d}")
    return certificates, _algorithm(key)


def load_keys(settings: Settings) -> SigningKeys:
    """The configured signing keys, else the local ones (made on first use)."""
    if settings.c2pa_cert or settings.c2pa_key:
        if not (settings.c2pa_cert and settings.c2pa_key):
            raise NotAvailable("set both STUDIO_C2PA_CERT and STUDIO_C2PA_KEY (or neither, for a local key)")
        chain = _read_pem(settings.c2pa_cert, "STUDIO_C2PA_CERT")
        key = _read_pem(settings.c2pa_key, "STUDIO_C2PA_KEY")
        certificates, alg = _checked(chain, key, what="STUDIO_C2PA_CERT/STUDIO_C2PA_KEY")
        anchor = certificates[-1].public_bytes(serialization.Encoding.PEM)
        return SigningKeys(chain_pem=chain, key_pem=key, anchors_pem=anchor, alg=alg, local=False,
                           where="STUDIO_C2PA_CERT / STUDIO_C2PA_KEY")
    return local_keys(settings.resolved_data_dir / FOLDER)


@contextmanager
def _locked(folder: Path) -> Iterator[None]:
    folder.mkdir(parents=True, exist_ok=True)
    with open(folder / LOCK_FILE, "a+b") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _write(path: Path, data: bytes, mode: int) -> None:
    """``data`` into ``path`` atomically, the file never readable with wider permissions than ``mode``."""
    handle, temporary = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        os.fchmod(handle, mode)
        with os.fdopen(handle, "wb") as out:
            out.write(data)
            out.flush()
            os.fsync(out.fileno())
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


def _needs_new(folder: Path) -> bool:
    chain, key = folder / CHAIN_FILE, folder / KEY_FILE
    if not (chain.is_file() and key.is_file()):
        return True
    try:
        leaf = x509.load_pem_x509_certificates(chain.read_bytes())[0]
    except ValueError:
        return True
    return leaf.not_valid_after_utc - RENEW_BEFORE <= dt.datetime.now(dt.UTC)


def local_keys(folder: Path) -> SigningKeys:
    """This installation's own CA and signing certificate in ``folder``, made (or renewed) when needed."""
    # Read under the lock too: a renewal replaces key and chain one after the other.
    with _locked(folder):
        if _needs_new(folder):  # the first process to get here makes them; the others find them made
            _make_local(folder)
        chain = (folder / CHAIN_FILE).read_bytes()
        key = (folder / KEY_FILE).read_bytes()
        anchors_path = folder / ANCHORS_FILE
        anchors = anchors_path.read_bytes() if anchors_path.is_file() else b""
    _, alg = _checked(chain, key, what=f"the local signing key in {folder}")
    if not anchors:
        anchors = x509.load_pem_x509_certificates(chain)[-1].public_bytes(serialization.Encoding.PEM)
    return SigningKeys(chain_pem=chain, key_pem=key, anchors_pem=anchors, alg=alg, local=True,
                       where=f"local, made by the studio in {folder}")


def _name(common_name: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name),
                      x509.NameAttribute(NameOID.ORGANIZATION_NAME, ORGANIZATION)])


def _make_local(folder: Path) -> None:
    now = dt.datetime.now(dt.UTC)
    start = now - dt.timedelta(minutes=5)  # tolerate a validator whose clock is a little behind
    tag = hashlib.sha256(os.urandom(16)).hexdigest()[:8]
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = _name(f"Persona Studio local CA {tag}")
    no_usage = dict.fromkeys(("content_commitment", "key_encipherment", "data_encipherment", "key_agreement",
                              "encipher_only", "decipher_only"), False)
    ca = (
        x509.CertificateBuilder().subject_name(ca_name).issuer_name(ca_name).public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number()).not_valid_before(start)
        .not_valid_after(now + dt.timedelta(days=CA_DAYS))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(x509.KeyUsage(digital_signature=False, key_cert_sign=True, crl_sign=True, **no_usage),
                       critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    key = ec.generate_private_key(ec.SECP256R1())
    leaf = (
        x509.CertificateBuilder().subject_name(_name(f"Persona Studio signer {tag}")).issuer_name(ca_name)
        .public_key(key.public_key()).serial_number(x509.random_serial_number()).not_valid_before(start)
        .not_valid_after(now + dt.timedelta(days=LEAF_DAYS))
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.KeyUsage(digital_signature=True, key_cert_sign=False, crl_sign=False, **no_usage),
                       critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.EMAIL_PROTECTION]), critical=False)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    pem = serialization.Encoding.PEM
    anchors_path = folder / ANCHORS_FILE
    previous = anchors_path.read_bytes() if anchors_path.is_file() else b""
    # The CA's own key is not kept: nothing but this one leaf is ever issued from it.
    _write(folder / KEY_FILE, key.private_bytes(pem, serialization.PrivateFormat.PKCS8,
                                                serialization.NoEncryption()), 0o600)
    _write(folder / CHAIN_FILE, leaf.public_bytes(pem) + ca.public_bytes(pem), 0o644)
    _write(anchors_path, previous + ca.public_bytes(pem), 0o644)
