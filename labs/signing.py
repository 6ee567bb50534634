"""PAdES signatures of reports: made with the laboratory's certificate when a biologist signs, and checked by
the verification page and ``manage.py verify_report``.

Each laboratory holds ``<REPORT_SIGNING_DIR>/<laboratory code>.p12`` (its certificate, key and chain), opened
with ``REPORT_SIGNING_PASSWORD``. No file, no signature: a report is never marked signed without the PAdES
signature that proves it. ``timestamping.p12`` in the same folder, when present, timestamps each signature
(RFC 3161 token embedded in the signature, PAdES B-T); it is a timestamping authority run by the portal
itself, since no external one is reachable, so the time it proves is the portal's clock.

Verification trusts the roots in ``REPORT_SIGNING_TRUST_ROOTS`` and, in DEMO_MODE, the demo root of
``manage.py generate_demo_certificates``.
"""

from __future__ import annotations

import datetime as dt
import functools
import hashlib
from dataclasses import dataclass, field
from io import BytesIO
from pathlib import Path

from asn1crypto import cms, core, x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric.padding import PKCS1v15
from cryptography.hazmat.primitives.asymmetric.rsa import RSAPrivateKey
from cryptography.hazmat.primitives.serialization import pkcs12
from cryptography.x509 import load_der_x509_certificate
from django.conf import settings
from django.utils.translation import gettext as _
from pyhanko.keys import load_cert_from_pemder
from pyhanko.keys.internal import (
    translate_pyca_cryptography_cert_to_asn1,
    translate_pyca_cryptography_key_to_asn1,
)
from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter
from pyhanko.pdf_utils.misc import PdfError
from pyhanko.pdf_utils.reader import PdfFileReader
from pyhanko.sign import general, signers
from pyhanko.sign.fields import SigSeedSubFilter
from pyhanko.sign.general import SigningError, simple_cms_attribute
from pyhanko.sign.timestamps.dummy_client import DummyTimeStamper
from pyhanko.sign.validation import validate_pdf_signature
from pyhanko.sign.validation.status import SignatureCoverageLevel
from pyhanko_certvalidator import ValidationContext
from pyhanko_certvalidator.registry import SimpleCertificateStore
from pyhanko_certvalidator.util import get_pyca_cryptography_hash

TIMESTAMPING_FILE = "timestamping.p12"
DEMO_ROOT_FILE = "demo-root-ca.pem"


class SigningUnavailable(Exception):
    """The laboratory cannot sign now: the message says why, in the user's language."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


def certificate_path(laboratory_code: str) -> Path:
    return Path(settings.REPORT_SIGNING_DIR) / f"{laboratory_code}.p12"


def _password() -> bytes | None:
    return settings.REPORT_SIGNING_PASSWORD.encode() or None


class _LoadedSigner(signers.SimpleSigner):
    """pyhanko's SimpleSigner loads its private key again, and so checks it again (about 35 ms of CPU for an RSA
    key), at each signature; this one keeps the key it was opened with."""

    def __init__(self, *, private_key, **kwargs) -> None:
        super().__init__(**kwargs)
        self.private_key = private_key
        # The room pyhanko reserved for this signer's signature with a given timestamping certificate (or
        # none). pyhanko measures it by signing a first time (a dry run, timestamp included) before signing for
        # real, with a 50 % margin; the same signer and authority always make a container of the same size, so
        # its measure is kept after the first signature.
        self.reserved: dict[bytes | None, int] = {}

    def sign_raw(self, data: bytes, digest_algorithm: str) -> bytes:
        mechanism = self.get_signature_mechanism_for_digest(digest_algorithm).signature_algo
        if mechanism == "rsassa_pkcs1v15" and isinstance(self.private_key, RSAPrivateKey):
            return self.private_key.sign(data, PKCS1v15(), get_pyca_cryptography_hash(digest_algorithm))
        return super().sign_raw(data, digest_algorithm)


class _PortalTimeStamper(DummyTimeStamper):
    """The portal's timestamping authority, with its key loaded once (as ``_LoadedSigner``). Same token as
    DummyTimeStamper's ``_sign_tst_info``, which it overrides only to use the loaded key."""

    def __init__(self, *, private_key: RSAPrivateKey, **kwargs) -> None:
        super().__init__(**kwargs)
        self.private_key = private_key

    def _sign_tst_info(self, tst_info_data: bytes, md_algorithm: str, dt: dt.datetime):
        md = hashes.Hash(get_pyca_cryptography_hash(md_algorithm))
        md.update(tst_info_data)
        signed_attrs = cms.CMSAttributes(
            [
                simple_cms_attribute("content_type", "tst_info"),
                simple_cms_attribute("signing_time", cms.Time({"utc_time": core.UTCTime(dt)})),
                simple_cms_attribute("signing_certificate", general.as_signing_certificate(self.tsa_cert)),
                simple_cms_attribute("message_digest", md.finalize()),
            ]
        )
        signature = self.private_key.sign(
            signed_attrs.dump(), PKCS1v15(), get_pyca_cryptography_hash(md_algorithm.upper())
        )
        return signature, signed_attrs


@functools.lru_cache(maxsize=16)
def _open(path: str, version: tuple[int, int], password: bytes | None) -> _LoadedSigner | None:
    """The signer of a PKCS#12 file, opened once per version of the file (``version``: its modification time
    and size) and password: opening derives the key from the password and checks the key, both slow on
    purpose, and a laboratory signs the same way all day."""
    try:
        key, certificate, others = pkcs12.load_key_and_certificates(Path(path).read_bytes(), password)
    except (OSError, ValueError):
        return None
    if key is None:
        return None
    registry = SimpleCertificateStore()
    registry.register_multiple({translate_pyca_cryptography_cert_to_asn1(c) for c in others})
    return _LoadedSigner(
        private_key=key,
        signing_key=translate_pyca_cryptography_key_to_asn1(key),
        signing_cert=translate_pyca_cryptography_cert_to_asn1(certificate) if certificate else None,
        cert_registry=registry,
    )


def _load(path: Path) -> _LoadedSigner | None:
    try:
        stat = path.stat()
    except OSError:
        return None
    return _open(str(path), (stat.st_mtime_ns, stat.st_size), _password())


def laboratory_signer(laboratory) -> _LoadedSigner:
    """The laboratory's signer, or SigningUnavailable naming what is missing."""
    if laboratory is None:
        raise SigningUnavailable(
            _("Le dossier n'est attribué à aucun laboratoire : rien ne peut être signé.")
        )
    path = certificate_path(laboratory.code)
    if not path.is_file():
        raise SigningUnavailable(
            _(
                "Aucun certificat de signature n'est configuré pour le laboratoire %(lab)s : le compte rendu "
                "ne peut pas être signé. L'administrateur doit déposer %(file)s (voir REPORT_SIGNING_DIR)."
            )
            % {"lab": laboratory.name, "file": path.name}
        )
    signer = _load(path)
    if signer is None:
        raise SigningUnavailable(
            _(
                "Le certificat de signature du laboratoire %(lab)s ne peut pas être ouvert (fichier ou mot de "
                "passe REPORT_SIGNING_PASSWORD incorrect) : le compte rendu ne peut pas être signé."
            )
            % {"lab": laboratory.name}
        )
    certificate = signer.signing_cert
    if certificate is None:
        raise SigningUnavailable(
            _("Le fichier %(file)s ne contient pas de certificat.") % {"file": path.name}
        )
    not_after = certificate["tbs_certificate"]["validity"]["not_after"].native
    if not_after <= dt.datetime.now(dt.UTC):
        raise SigningUnavailable(
            _(
                "Le certificat de signature du laboratoire %(lab)s a expiré : le compte rendu ne peut pas être signé."
            )
            % {"lab": laboratory.name}
        )
    return signer


def _timestamper() -> _PortalTimeStamper | None:
    tsa = _load(Path(settings.REPORT_SIGNING_DIR) / TIMESTAMPING_FILE)
    if tsa is None:
        return None
    if not isinstance(tsa.private_key, RSAPrivateKey) or tsa.signing_cert is None:
        return None
    return _PortalTimeStamper(
        private_key=tsa.private_key,
        tsa_cert=tsa.signing_cert,
        tsa_key=tsa.signing_key,
        certs_to_embed=tsa.cert_registry,
    )


def subject_of(certificate: x509.Certificate) -> str:
    """The certificate's subject as RFC 4514 writes it (``CN=…,O=…,C=FR``)."""
    return load_der_x509_certificate(certificate.dump()).subject.rfc4514_string()


@dataclass(frozen=True)
class SignedPdf:
    data: bytes
    subject: str


def sign_pdf(data: bytes, *, laboratory, signer_name: str) -> SignedPdf:
    """``data`` with a PAdES signature of ``laboratory`` naming the biologist ``signer_name``, added as an
    incremental update (the original bytes stay the first bytes of the signed file)."""
    signer = laboratory_signer(laboratory)
    meta = signers.PdfSignatureMetadata(
        field_name=f"PFMG-{laboratory.code}",
        md_algorithm="sha256",
        subfilter=SigSeedSubFilter.PADES,
        name=signer_name,
        reason=_("Compte rendu signé par %(name)s, biologiste du laboratoire %(lab)s")
        % {"name": signer_name, "lab": laboratory.name},
        location=f"{laboratory.name}, {laboratory.city}",
    )
    out = BytesIO()
    timestamper = _timestamper()
    authority = timestamper.tsa_cert.sha256 if timestamper is not None else None
    reserved = signer.reserved.get(authority)
    try:
        writer = IncrementalPdfFileWriter(BytesIO(data), strict=False)
        signers.sign_pdf(
            writer, meta, signer=signer, timestamper=timestamper, output=out, bytes_reserved=reserved
        )
        if reserved is None:
            signer.reserved[authority] = _reserved_in(out.getvalue())
    except SigningError as exc:
        raise SigningUnavailable(
            _("La signature électronique du compte rendu a échoué (%(error)s).") % {"error": exc}
        ) from exc
    except (PdfError, ValueError) as exc:
        raise SigningUnavailable(
            _(
                "Le PDF du compte rendu est mal formé et ne peut pas recevoir de signature électronique "
                "(%(error)s) : déposez-le à nouveau, exporté en PDF standard."
            )
            % {"error": exc}
        ) from exc
    return SignedPdf(data=out.getvalue(), subject=subject_of(signer.signing_cert))


def _reserved_in(signed: bytes) -> int:
    """The room (hexadecimal digits) reserved for the last signature of ``signed``."""
    signature = PdfFileReader(BytesIO(signed), strict=False).embedded_signatures[-1]
    return 2 * len(signature.sig_object["/Contents"])


# --- Verification -------------------------------------------------------------------------------------------


def trust_roots() -> list[x509.Certificate]:
    paths = [Path(p) for p in settings.REPORT_SIGNING_TRUST_ROOTS]
    if settings.DEMO_MODE:
        paths.append(Path(settings.REPORT_SIGNING_DIR) / DEMO_ROOT_FILE)
    roots = []
    for path in paths:
        if path.is_file():
            roots.append(load_cert_from_pemder(str(path)))
    return roots


@dataclass
class Verification:
    """What a PDF's signature proves. ``valid``: a signature is there, its bytes are untouched and cover the
    whole file, and it verifies with its certificate; ``trusted``: that certificate chains to a trusted root."""

    sha256: str
    signed: bool = False
    intact: bool = False
    covers_whole_file: bool = False
    valid: bool = False
    trusted: bool = False
    subject: str = ""
    signer_name: str = ""
    reason: str = ""
    signed_at: dt.datetime | None = None
    timestamped_at: dt.datetime | None = None
    problems: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return self.valid and self.trusted


def verify_pdf(data: bytes) -> Verification:
    result = Verification(sha256=hashlib.sha256(data).hexdigest())
    try:
        reader = PdfFileReader(BytesIO(data), strict=False)
        embedded = reader.embedded_signatures
    except Exception:  # noqa: BLE001 - any parsing failure means the same to the user
        result.problems.append(_("Ce fichier n'est pas un PDF lisible."))
        return result
    if not embedded:
        result.problems.append(_("Ce PDF ne porte aucune signature électronique."))
        return result
    # The last signature is the one that covers the file as it is now.
    sig = embedded[-1]
    result.signed = True
    result.signer_name = str(sig.sig_object.get("/Name", ""))
    result.reason = str(sig.sig_object.get("/Reason", ""))
    context = ValidationContext(trust_roots=trust_roots(), allow_fetching=False, revocation_mode="soft-fail")
    try:
        status = validate_pdf_signature(sig, signer_validation_context=context, ts_validation_context=context)
    except Exception as exc:  # noqa: BLE001 - a corrupted signature raises from deep inside the CMS parser
        result.problems.append(_("La signature est illisible ou altérée (%(error)s).") % {"error": exc})
        return result
    result.intact = status.intact
    result.covers_whole_file = status.coverage == SignatureCoverageLevel.ENTIRE_FILE
    result.valid = status.intact and status.valid and result.covers_whole_file
    result.trusted = status.trusted
    result.subject = subject_of(status.signing_cert)
    result.signed_at = status.signer_reported_dt
    if status.timestamp_validity is not None and status.timestamp_validity.intact:
        result.timestamped_at = status.timestamp_validity.timestamp
    if not status.intact:
        result.problems.append(_("Le contenu signé a été modifié après la signature."))
    elif not status.valid:
        result.problems.append(_("La signature ne correspond pas à son certificat."))
    if status.intact and not result.covers_whole_file:
        result.problems.append(_("Le fichier a été complété ou modifié après la signature."))
    if status.intact and status.valid and not status.trusted:
        result.problems.append(
            _("Le certificat du signataire ne remonte pas à une autorité de confiance des laboratoires.")
        )
    return result
