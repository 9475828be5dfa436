"""What `pip install faceweave` and the sdist carry: complete metadata, one version, and the tests that run."""

from __future__ import annotations

import importlib.util
import subprocess
import sys
import tarfile
import tomllib
from email.parser import Parser
from pathlib import Path

import pytest

import faceweave

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def sdist(tmp_path_factory: pytest.TempPathFactory) -> Path:
    if importlib.util.find_spec("build") is None:
        pytest.skip("the 'build' package is not installed (it is in the dev extra)")
    out = tmp_path_factory.mktemp("sdist")
    subprocess.run(
        [sys.executable, "-m", "build", "--sdist", "--no-isolation", "--outdir", str(out), str(ROOT)],
        check=True,
        capture_output=True,
    )
    (found,) = out.glob("faceweave-*.tar.gz")
    return found


def _names(sdist: Path) -> set[str]:
    with tarfile.open(sdist) as archive:
        return {name.split("/", 1)[1] for name in archive.getnames() if "/" in name}


def test_the_sdist_carries_the_tests_and_what_they_need(sdist: Path) -> None:
    names = _names(sdist)
    for needed in (
        "LICENSE",
        "README.md",
        "Makefile",
        "tests/conftest.py",
        "tests/clip_factory.py",
        "tests/test_packaging.py",
        "docs/ARCHITECTURE.md",
        "tools/swap_digests.py",
        "faceweave/data/astronaut.jpg",
        "faceweave/geometry/canonical_face.npz",
    ):
        assert needed in names, needed
    assert not [name for name in names if "__pycache__" in name or name.endswith(".pyc")]


def test_the_sdist_metadata_is_complete(sdist: Path) -> None:
    with tarfile.open(sdist) as archive:
        member = next(name for name in archive.getnames() if name.count("/") == 1 and name.endswith("/PKG-INFO"))
        handle = archive.extractfile(member)
        assert handle is not None
        metadata = Parser().parsestr(handle.read().decode())
    assert metadata["Version"] == faceweave.__version__
    assert metadata["License-Expression"] == "MIT"
    assert metadata["Requires-Python"] in (">=3.11,<3.13", "<3.13,>=3.11")
    classifiers = metadata.get_all("Classifier") or []
    assert "Programming Language :: Python :: 3.11" in classifiers
    assert "Programming Language :: Python :: 3.12" in classifiers
    assert not [c for c in classifiers if c.startswith("License ::")], (
        "the SPDX expression replaces licence classifiers"
    )
    urls = dict(line.split(", ", 1) for line in metadata.get_all("Project-URL") or [])
    assert {"Homepage", "Documentation", "Issues"} <= set(urls)


def test_the_version_is_written_once() -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    assert "version" not in project
    assert "version" in project["dynamic"]
    assert faceweave.__version__.count(".") == 2


def test_help_lists_the_lazy_public_api() -> None:
    listed = dir(faceweave)
    for name in ("swap_image", "Engine", "Stream", "SourceIdentity", "FaceAnalyser", "Settings"):
        assert name in listed
