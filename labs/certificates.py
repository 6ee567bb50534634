"""Demo signing certificates: a demo root CA, one signing certificate per laboratory and a timestamping
certificate, written where ``labs.signing`` looks for them. For the demo and the tests only: a real
laboratory's certificate comes from its certification authority, never from here."""

from __future__ import annotations

import datetime as dt
import os
from pathlib import Path

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.hazmat.primitives.serialization import pkcs12
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from .signing import DEMO_ROOT_FILE, TIMESTAMPING_FILE

ROOT_KEY_FILE = "demo-root-ca.key"
ROOT_YEARS = 10
LEAF_YEARS = 3
# Renewed ahead of expiry, so that a demo running for months never reaches a refusal to sign.
RENEW_BEFORE = dt.timedelta(days=30)
# RSA rather than elliptic curves: pyhanko's own timestamping authority signs with RSA only.
RSA_BITS = 2048


def _name(common_name: str, organisation: str) -> x509.Name:
    return x509.Name(
        [
            x509.NameAttribute(NameOID.COUNTRY_NAME, "FR"),
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, organisation),
            x509.NameAttribute(NameOID.COMMON_NAME, common_name),
        ]
    )


def _write_private(path: Path, data: bytes) -> None:
    path.write_bytes(data)
    os.chmod(path, 0o600)


def _root(
    directory: Path, password: bytes, now: dt.datetime
) -> tuple[x509.Certificate, rsa.RSAPrivateKey, bool]:
    cert_path, key_path = directory / DEMO_ROOT_FILE, directory / ROOT_KEY_FILE
    if cert_path.is_file() and key_path.is_file():
        cert = x509.load_pem_x509_certificate(cert_path.read_bytes())
        if cert.not_valid_after_utc - RENEW_BEFORE > now:
            key = serialization.load_pem_private_key(key_path.read_bytes(), password=password)
            assert isinstance(key, rsa.RSAPrivateKey)  # noqa: S101 - we wrote it
            return cert, key, False
    key = rsa.generate_private_key(public_exponent=65537, key_size=RSA_BITS)
    name = _name("PFMG - autorité racine de démonstration", "PFMG portail (démonstration)")
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(days=1))
        .not_valid_after(now + dt.timedelta(days=365 * ROOT_YEARS))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=False,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=True,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .sign(key, hashes.SHA256())
    )
    encryption = serialization.BestAvailableEncryption(password)
    _write_private(
        key_path, key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, encryption)
    )
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    return cert, key, True


def _issued_by(cert: x509.Certificate, root: x509.Certificate) -> bool:
    try:
        cert.verify_directly_issued_by(root)
    except (ValueError, TypeError, InvalidSignature):
        return False
    return True


def _leaf(
    path: Path,
    subject: x509.Name,
    *,
    root: x509.Certificate,
    root_key: rsa.RSAPrivateKey,
    password: bytes,
    now: dt.datetime,
    timestamping: bool = False,
) -> bool:
    """Write ``path`` (a PKCS#12) unless a valid one issued by ``root`` is there; True if written."""
    if path.is_file():
        try:
            _key, cert, _chain = pkcs12.load_key_and_certificates(path.read_bytes(), password)
        except ValueError:
            cert = None
        if cert is not None and _issued_by(cert, root) and cert.not_valid_after_utc - RENEW_BEFORE > now:
            return False
    key = rsa.generate_private_key(public_exponent=65537, key_size=RSA_BITS)
    builder = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(root.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(days=1))
        .not_valid_after(now + dt.timedelta(days=365 * LEAF_YEARS))
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=not timestamping,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=False,
                crl_sign=False,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(root.public_key()),  # type: ignore[arg-type]
            critical=False,
        )
    )
    if timestamping:
        builder = builder.add_extension(
            x509.ExtendedKeyUsage([ExtendedKeyUsageOID.TIME_STAMPING]), critical=True
        )
    cert = builder.sign(root_key, hashes.SHA256())
    data = pkcs12.serialize_key_and_certificates(
        name=path.stem.encode(),
        key=key,
        cert=cert,
        cas=[root],
        encryption_algorithm=serialization.BestAvailableEncryption(password),
    )
    _write_private(path, data)
    return True


def generate_demo_certificates(directory: Path, laboratories, password: str) -> list[str]:
    """Write (or keep, when still valid) the demo root, one ``<code>.p12`` per laboratory and the timestamping
    certificate under ``directory``; returns the names of the files written."""
    if not password:
        raise ValueError("REPORT_SIGNING_PASSWORD is empty: the demo certificates need a password.")
    directory.mkdir(parents=True, exist_ok=True)
    secret = password.encode()
    now = dt.datetime.now(dt.UTC)
    root, root_key, created = _root(directory, secret, now)
    written = [DEMO_ROOT_FILE] if created else []
    for laboratory in laboratories:
        path = directory / f"{laboratory.code}.p12"
        subject = _name(f"{laboratory.name} - signature des comptes rendus (démonstration)", laboratory.name)
        if _leaf(path, subject, root=root, root_key=root_key, password=secret, now=now):
            written.append(path.name)
    tsa_subject = _name("PFMG - horodatage de démonstration", "PFMG portail (démonstration)")
    if _leaf(
        directory / TIMESTAMPING_FILE,
        tsa_subject,
        root=root,
        root_key=root_key,
        password=secret,
        now=now,
        timestamping=True,
    ):
        written.append(TIMESTAMPING_FILE)
    return written
