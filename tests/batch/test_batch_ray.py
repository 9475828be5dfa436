"""The Ray engine against a local Ray (num_cpus=2): actors holding Pipelines, failures recorded, same outputs."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from batch_factory import no_face_image, write_faces

from faceweave.batch import BatchOptions, run_batch
from faceweave.samples import sample_path
from faceweave.settings import Settings

ray = pytest.importorskip("ray")
# ~12 s on two shared cores (Ray start, two actors loading the models): under the 20 s line for "slow".


@pytest.fixture(scope="module")
def local_ray() -> Iterator[None]:
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    yield
    ray.shutdown()


def test_ray_engine_swaps_and_records_failures(local_ray: None, tmp_path: Path) -> None:
    source = tmp_path / "in"
    write_faces(source, 6, subdirs=("", "sub"))
    no_face_image(source / "noface.png")
    options = BatchOptions(
        output=tmp_path / "out", sources=(sample_path("hopper"),), input=source, workers=2, engine="ray"
    )
    summary = run_batch(options, Settings(require_face=True))
    assert summary.done == 6 and summary.failed == 1
    assert "no face found" in summary.failures[0].reason
    outputs = {p.relative_to(tmp_path / "out").as_posix() for p in (tmp_path / "out").rglob("face_*")}
    assert outputs == {p.relative_to(source).as_posix() for p in source.rglob("face_*")}
    again = run_batch(options, Settings(require_face=True))  # the same manifest whatever the engine
    assert (again.done, again.skipped_done) == (0, 6)
