"""C2PA content credentials through the optional `c2pa-python` (pip install 'faceweave[c2pa]').

Signing adds a manifest whose c2pa.actions assertion says the image or video was created with a trained algorithm
(digitalSourceType compositeWithTrainedAlgorithmicMedia) by faceweave, plus faceweave's label as its own assertion.
"""

from __future__ import annotations

import importlib.util
import io
import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO

from faceweave.errors import MediaError, UsageError
from faceweave.provenance.label import Label

MIME_TYPES = {
    ".jpg": "image/jpeg",
    ".jpeg": "image/jpeg",
    ".png": "image/png",
    ".webp": "image/webp",
    ".tif": "image/tiff",
    ".tiff": "image/tiff",
}
"""Output formats C2PA can sign (BMP has nowhere to embed a manifest)."""
VIDEO_MIME_TYPES = {".mp4": "video/mp4", ".mov": "video/quicktime"}
"""Video containers C2PA can sign (ISO BMFF; c2pa-python has no Matroska/WebM support)."""
LABEL_ASSERTION = "org.faceweave.label"
_UNTRUSTED = "signingCredential.untrusted"  # no trust anchors are configured: valid signature, unknown signer
_WRITE_HINT = "check free disk space and permissions of the output folder"
_INSTALL_HINT = "pip install 'faceweave[c2pa]' or unset c2pa_cert/c2pa_key (FACEWEAVE_C2PA_CERT/KEY)"


@dataclass(frozen=True)
class C2paReport:
    """What a C2PA reader says about a file: `state` is "none", "not installed", "Valid", "Trusted" or "Invalid".

    Example: ``verify_image("photo.jpg").state`` gives ``'none'`` for a file without a manifest
    """

    state: str
    detail: str = ""

    def line(self) -> str:
        """One line for `faceweave inspect`, e.g. ``c2pa: Valid (...)``."""
        return f"c2pa: {self.state}" + (f" ({self.detail})" if self.detail else "")


def c2pa_installed() -> bool:
    """Whether the optional c2pa-python package can be imported."""
    return importlib.util.find_spec("c2pa") is not None


def check_signing(cert: Path, key: Path, extension: str, *, video: bool = False) -> None:
    """Fail early, before any model work, when signing is configured but cannot work (package, files, format).

    Example: ``check_signing(chain, key, ".mkv", video=True)`` raises UsageError (sign .mp4 or .mov instead)
    """
    if not c2pa_installed():
        raise UsageError(f"C2PA signing is configured but c2pa-python is not installed; {_INSTALL_HINT}")
    if video and extension not in VIDEO_MIME_TYPES:
        raise UsageError(f"C2PA cannot sign {extension} videos; write .mp4 or .mov instead (or unset c2pa_cert/key)")
    if not video and extension not in MIME_TYPES:
        raise UsageError(f"C2PA cannot sign {extension} files; write .png, .jpg, .webp or .tif instead")
    _read_pem(cert, "certificate chain")
    _algorithm(_read_pem(key, "private key"), key)


def sign_image(data: bytes, extension: str, label: Label, cert: Path, key: Path) -> bytes:
    """Return the encoded image with a signed C2PA manifest; cert is a PEM chain (end-entity first), key PEM.

    Example: ``sign_image(encode_image(image, ".png"), ".png", label, Path("chain.pem"), Path("key.pem"))``
    """
    check_signing(cert, key, extension)
    destination = io.BytesIO()
    _sign_stream(MIME_TYPES[extension], io.BytesIO(data), destination, label, cert, key)
    return destination.getvalue()


def sign_video_file(path: Path, extension: str, label: Label, cert: Path, key: Path) -> None:
    """Replace the MP4/MOV file at `path` by a copy with a signed C2PA manifest (a sibling temp file, renamed over).

    `extension` picks the container (`path` may be a temp name such as ``.out.mp4.x1.part``).
    Example: ``sign_video_file(Path("clip.mp4"), ".mp4", label, Path("chain.pem"), Path("key.pem"))``
    """
    check_signing(cert, key, extension, video=True)
    signed = path.with_name(path.name + ".c2pa")
    try:
        with path.open("rb") as source, signed.open("w+b") as destination:
            _sign_stream(VIDEO_MIME_TYPES[extension], source, destination, label, cert, key)
        signed.replace(path)
    except OSError as exc:
        raise MediaError(path, f"cannot write the signed video ({exc.strerror or exc})", _WRITE_HINT) from exc
    finally:
        signed.unlink(missing_ok=True)


def _sign_stream(mime: str, source: BinaryIO, destination: BinaryIO, label: Label, cert: Path, key: Path) -> None:
    """Sign `source` into `destination` with faceweave's manifest; MediaError when C2PA refuses the credentials."""
    import c2pa

    chain, private_key = _read_pem(cert, "certificate chain"), _read_pem(key, "private key")
    info = c2pa.C2paSignerInfo(_algorithm(private_key, key), chain, private_key, None)
    try:
        with c2pa.Signer.from_info(info) as signer, c2pa.Builder(manifest_definition(label)) as builder:
            builder.sign(signer, mime, source, destination)
    except c2pa.C2paError as exc:
        problem = f"C2PA signing failed ({str(exc).splitlines()[0] if str(exc) else type(exc).__name__})"
        raise MediaError(cert, problem, "check the certificate chain matches the key and has a signing EKU") from exc


def manifest_definition(label: Label) -> dict[str, Any]:
    """The C2PA manifest faceweave signs: a c2pa.created action with the digital source type, and the label."""
    agent = {"name": label.software, "version": label.version}
    action = {"action": "c2pa.created", "digitalSourceType": label.digital_source_type, "softwareAgent": agent}
    return {
        "claim_generator_info": [agent],
        "title": "faceweave output",
        "assertions": [
            {"label": "c2pa.actions", "data": {"actions": [action]}},
            {"label": LABEL_ASSERTION, "data": label.to_dict()},
        ],
    }


def verify_image(path: str | os.PathLike[str], mime: str | None = None) -> C2paReport:
    """Read and validate the C2PA manifest of an image or MP4/MOV video (signer trust is not checked: no trust list
    is configured); `mime` None = from the file's extension.

    Example: ``verify_image("clip.mp4").line()`` gives ``'c2pa: Valid (by faceweave ...)'`` for a signed video
    """
    if not c2pa_installed():
        return C2paReport("not installed", "pip install 'faceweave[c2pa]'")
    import c2pa

    suffix = Path(path).suffix.lower()
    mime = mime or MIME_TYPES.get(suffix) or VIDEO_MIME_TYPES.get(suffix)
    if mime is None:
        return C2paReport("none", f"{Path(path).suffix or 'this file type'} is not checked")
    try:
        with Path(path).open("rb") as stream, c2pa.Reader(mime, stream) as reader:
            manifest = json.loads(reader.json())
            state = reader.get_validation_state() or "unknown"
            results = reader.get_validation_results() or {}
    except OSError as exc:
        raise MediaError(path, f"cannot read file ({exc.strerror or exc})", "check the path") from exc
    except c2pa.C2paError as exc:
        if "ManifestNotFound" in type(exc).__name__ or "not found" in str(exc).lower():
            return C2paReport("none")
        return C2paReport("Invalid", str(exc).splitlines()[0] if str(exc) else type(exc).__name__)
    return C2paReport(state, _describe(manifest, results))


def _describe(manifest: dict[str, Any], results: dict[str, Any]) -> str:
    active = manifest.get("manifests", {}).get(manifest.get("active_manifest", ""), {})
    generator = ", ".join(f"{g.get('name')} {g.get('version')}" for g in active.get("claim_generator_info", []))
    actions = [
        action.get("digitalSourceType", "").rsplit("/", 1)[-1]
        for assertion in active.get("assertions", [])
        if assertion.get("label", "").startswith("c2pa.actions")
        for action in assertion.get("data", {}).get("actions", [])
    ]
    issuer = active.get("signature_info", {}).get("issuer", "?")
    failures = [item.get("code", "?") for item in results.get("activeManifest", {}).get("failure", [])]
    parts = [f"by {generator or '?'}", f"signed by {issuer}", f"digitalSourceType {', '.join(filter(None, actions))}"]
    if _UNTRUSTED in failures:
        failures.remove(_UNTRUSTED)
        parts.append("signer not on a trust list")
    if failures:
        parts.append(f"failures: {', '.join(failures)}")
    return "; ".join(parts)


def _read_pem(path: Path, what: str) -> bytes:
    try:
        data = path.read_bytes()
    except OSError as exc:
        problem = f"cannot read the C2PA {what} ({exc.strerror or exc})"
        raise MediaError(path, problem, "check the c2pa_cert / c2pa_key paths") from exc
    if b"-----BEGIN" not in data:
        raise MediaError(path, f"the C2PA {what} is not PEM", "convert it: openssl x509/pkey -outform PEM")
    return data


def _algorithm(private_key: bytes, path: Path) -> str:
    """The C2PA signing algorithm for a PEM key: ES256/384/512 by EC curve, PS256 for RSA, Ed25519."""
    from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
    from cryptography.hazmat.primitives.serialization import load_pem_private_key

    try:
        key = load_pem_private_key(private_key, password=None)
    except (ValueError, TypeError) as exc:
        raise MediaError(path, f"cannot load the C2PA private key ({exc})", "give an unencrypted PEM key") from exc
    if isinstance(key, ec.EllipticCurvePrivateKey) and key.curve.name in ("secp256r1", "secp384r1", "secp521r1"):
        return {"secp256r1": "es256", "secp384r1": "es384", "secp521r1": "es512"}[key.curve.name]
    if isinstance(key, rsa.RSAPrivateKey):
        return "ps256"
    if isinstance(key, ed25519.Ed25519PrivateKey):
        return "ed25519"
    hint = "use an EC P-256/384/521, RSA or Ed25519 key"
    raise MediaError(path, f"unsupported C2PA key type {type(key).__name__}", hint)
