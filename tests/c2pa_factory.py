"""A throw-away C2PA test certificate chain (root → intermediate → end-entity) for signing tests."""

from __future__ import annotations

import dataclasses
import datetime as dt
from pathlib import Path


@dataclasses.dataclass(frozen=True)
class Credentials:
    chain: Path
    key: Path


def make_test_credentials(folder: Path) -> Credentials:
    """A root CA → intermediate CA → end-entity chain as C2PA wants it: EC P-256, digitalSignature, emailProtection
    EKU, key identifiers; the chain file holds the end-entity then the intermediate certificate (not the root)."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

    now = dt.datetime.now(dt.UTC)

    def name(common: str) -> x509.Name:
        return x509.Name(
            [
                x509.NameAttribute(NameOID.COMMON_NAME, common),
                x509.NameAttribute(NameOID.ORGANIZATION_NAME, "faceweave tests"),
            ]
        )

    def issue(
        key: ec.EllipticCurvePrivateKey, subject: str, issuer_key: ec.EllipticCurvePrivateKey, issuer: str, ca: bool
    ) -> x509.Certificate:
        usage = dict.fromkeys(
            ("content_commitment", "key_encipherment", "data_encipherment", "key_agreement", "encipher_only"), False
        )
        builder = (
            x509.CertificateBuilder()
            .subject_name(name(subject))
            .issuer_name(name(issuer))
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(days=1))
            .not_valid_after(now + dt.timedelta(days=30))
            .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
            .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(issuer_key.public_key()), critical=False)
            .add_extension(
                x509.KeyUsage(digital_signature=not ca, key_cert_sign=ca, crl_sign=ca, decipher_only=False, **usage),
                critical=True,
            )
        )
        if not ca:
            builder = builder.add_extension(
                x509.ExtendedKeyUsage([ExtendedKeyUsageOID.EMAIL_PROTECTION]), critical=False
            )
        return builder.sign(issuer_key, hashes.SHA256())

    root_key, middle_key, leaf_key = (ec.generate_private_key(ec.SECP256R1()) for _ in range(3))
    middle = issue(middle_key, "test intermediate", root_key, "test root", ca=True)
    leaf = issue(leaf_key, "faceweave test signer", middle_key, "test intermediate", ca=False)
    chain, key = folder / "chain.pem", folder / "key.pem"
    chain.write_bytes(b"".join(cert.public_bytes(serialization.Encoding.PEM) for cert in (leaf, middle)))
    key.write_bytes(
        leaf_key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )
    return Credentials(chain, key)
