"""PAdES signatures with pyHanko: the platform's key signs every document; uploads are checked."""

from __future__ import annotations

import asyncio
import fcntl
import io
import os
import tempfile
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, TypeVar

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.hazmat.primitives.asymmetric.padding import PKCS1v15
from cryptography.hazmat.primitives.asymmetric.types import PrivateKeyTypes
from cryptography.x509.oid import NameOID
from pyhanko.keys import load_cert_from_pemder, load_private_key_from_pemder
from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter
from pyhanko.pdf_utils.reader import PdfFileReader
from pyhanko.sign import fields, signers
from pyhanko.sign.validation import SignatureCoverageLevel, validate_pdf_signature
from pyhanko_certvalidator import ValidationContext
from pyhanko_certvalidator.registry import SimpleCertificateStore
from pyhanko_certvalidator.util import get_pyca_cryptography_hash

from app.services.documents.errors import DocumentError

FIELD_NAME = "GrantFlowSignature"
DEMO_KEY, DEMO_CERT = "demo-signing-key.pem", "demo-signing-cert.pem"


T = TypeVar("T")


def off_event_loop(fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
    """Call ``fn`` here, or in a worker thread when this thread already runs an event loop.

    pyHanko's synchronous API wraps ``asyncio.run``, which refuses to start inside a running
    loop (an async server, or a test process where Playwright's sync API holds one).
    """
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return fn(*args, **kwargs)
    with ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(fn, *args, **kwargs).result()


@dataclass(frozen=True)
class SignatureCheck:
    """What pyHanko found about the (last) signature of a PDF."""

    present: bool
    intact: bool = False  # the signed bytes hash to what was signed
    valid: bool = False  # cryptographically sound
    trusted: bool = False  # made with the platform's certificate
    covers_whole_file: bool = False  # nothing was appended after signing
    signer: str | None = None
    signed_at: datetime | None = None
    reason: str | None = None  # as written at signing time: names the document

    @property
    def sound(self) -> bool:
        """Present, unbroken, and nothing appended after signing (whoever signed)."""
        return self.present and self.intact and self.valid and self.covers_whole_file

    @property
    def ok(self) -> bool:
        """Sound and made with the platform's current certificate."""
        return self.sound and self.trusted


class _ParsedKeySigner(signers.SimpleSigner):
    """pyHanko's SimpleSigner parses its private key again for each raw signature, and for
    RSA that includes a consistency check of ~70 ms (twice per document: a dry run sizes
    the signature). Parse the key once and reuse it for RSA PKCS#1 v1.5."""

    _parsed: PrivateKeyTypes | None = None

    def sign_raw(self, data: bytes, digest_algorithm: str) -> bytes:
        mechanism = self.get_signature_mechanism_for_digest(digest_algorithm).signature_algo
        if mechanism != "rsassa_pkcs1v15":
            return bytes(super().sign_raw(data, digest_algorithm))
        if self._parsed is None:
            self._parsed = serialization.load_der_private_key(self.signing_key.dump(), password=None)
        assert isinstance(self._parsed, rsa.RSAPrivateKey)
        return self._parsed.sign(data, PKCS1v15(), get_pyca_cryptography_hash(digest_algorithm))


class PlatformSigner:
    """Signs with one key and certificate (PEM files) and validates against that certificate."""

    def __init__(self, key_path: Path, cert_path: Path, password: str | None = None) -> None:
        self.key_path, self.cert_path = key_path, cert_path
        try:
            key = load_private_key_from_pemder(str(key_path), passphrase=password.encode() if password else None)
            self._cert = load_cert_from_pemder(str(cert_path))
        except Exception as exc:  # cryptography/asn1crypto raise several types for unreadable key material
            raise DocumentError(f"the signing key or certificate cannot be loaded: {exc}") from exc
        self._signer = _ParsedKeySigner(signing_cert=self._cert, signing_key=key,
                                        cert_registry=SimpleCertificateStore.from_certs([self._cert]))

    @property
    def subject(self) -> str:
        return str(self._cert.subject.human_friendly)

    def sign(self, pdf: bytes, *, reason: str, location: str = "深圳市南山区") -> bytes:
        """Return ``pdf`` with an incremental PAdES baseline-B signature appended.

        Raises DocumentError when pyHanko cannot sign it.
        """
        meta = signers.PdfSignatureMetadata(
            field_name=FIELD_NAME, subfilter=fields.SigSeedSubFilter.PADES, md_algorithm="sha256",
            reason=reason, location=location,
        )
        try:
            writer = IncrementalPdfFileWriter(io.BytesIO(pdf))
            out = off_event_loop(signers.sign_pdf, writer, meta, signer=self._signer)
        except Exception as exc:  # pyHanko wraps few of its errors; any failure fails the step
            raise DocumentError(f"the document could not be signed: {exc}") from exc
        return bytes(out.getvalue())

    def check(self, pdf: bytes) -> SignatureCheck:
        """Validate the last signature of ``pdf`` against the platform certificate (no network)."""
        try:
            reader = PdfFileReader(io.BytesIO(pdf), strict=False)
            sigs = reader.embedded_signatures
        except Exception:  # not a PDF, or too damaged to parse: treated as unsigned
            return SignatureCheck(present=False)
        if not sigs:
            return SignatureCheck(present=False)
        sig = sigs[-1]
        reason = _text(sig.sig_object.get("/Reason"))
        try:
            context = ValidationContext(trust_roots=[self._cert], allow_fetching=False)
            status = off_event_loop(validate_pdf_signature, sig, context)
        except Exception:  # a damaged signature dictionary or CMS blob
            return SignatureCheck(present=True, reason=reason)
        whole = status.coverage == SignatureCoverageLevel.ENTIRE_FILE
        return SignatureCheck(
            present=True, intact=bool(status.intact), valid=bool(status.valid), trusted=bool(status.trusted),
            covers_whole_file=whole, signer=str(status.signing_cert.subject.human_friendly),
            signed_at=status.signer_reported_dt, reason=reason,
        )


def _text(value: Any) -> str | None:
    return str(value) if value is not None else None


def ensure_demo_certificate(folder: Path) -> tuple[Path, Path]:
    """Create a self-signed demo key and certificate in ``folder`` unless they exist.

    Safe when several processes start at once: creation happens under an exclusive lock on
    ``folder/.lock``, each file is written to a temporary name and renamed into place, and the
    certificate (written last) marks a complete pair. Returns (key path, certificate path).
    """
    key_path, cert_path = folder / DEMO_KEY, folder / DEMO_CERT
    if key_path.is_file() and cert_path.is_file():
        return key_path, cert_path
    folder.mkdir(parents=True, exist_ok=True, mode=0o700)
    with open(folder / ".lock", "a+b") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            if not (key_path.is_file() and cert_path.is_file()):
                key_pem, cert_pem = _demo_pair()
                _write_atomically(key_path, key_pem, 0o600)
                _write_atomically(cert_path, cert_pem, 0o644)
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)
    return key_path, cert_path


def _demo_pair() -> tuple[bytes, bytes]:
    # RSA, not ECDSA: pyHanko marks a PDF signed with an ISO 32002 curve (P-256...) as PDF 2.0,
    # while PDF/A-2 rests on PDF 1.7. The same holds for a configured production key.
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    name = x509.Name([
        x509.NameAttribute(NameOID.COUNTRY_NAME, "CN"),
        x509.NameAttribute(NameOID.STATE_OR_PROVINCE_NAME, "广东省"),
        x509.NameAttribute(NameOID.LOCALITY_NAME, "深圳市"),
        x509.NameAttribute(NameOID.ORGANIZATION_NAME, "GrantFlow（演示）"),
        x509.NameAttribute(NameOID.COMMON_NAME, "GrantFlow demo document signing (not for production)"),
    ])
    now = datetime.now(UTC)
    usage = x509.KeyUsage(digital_signature=True, content_commitment=True, key_encipherment=False,
                          data_encipherment=False, key_agreement=False, key_cert_sign=False, crl_sign=False,
                          encipher_only=False, decipher_only=False)
    cert = (
        x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(days=1)).not_valid_after(now + timedelta(days=3650))
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(usage, critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .sign(key, hashes.SHA256())
    )
    key_pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                serialization.NoEncryption())
    return key_pem, cert.public_bytes(serialization.Encoding.PEM)


def _write_atomically(path: Path, data: bytes, mode: int) -> None:
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, mode)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
