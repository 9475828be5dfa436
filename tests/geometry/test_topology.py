"""The Face Mesh topology derived once: triangles, mirror map, atlas layout."""

from __future__ import annotations

import numpy as np

from faceweave.geometry.raster import signed_areas
from faceweave.geometry.topology import load_topology


def test_852_triangles_all_front_facing_in_the_canonical_face() -> None:
    topology = load_topology()
    assert topology.triangles.shape == (852, 3)
    assert len({tuple(sorted(t)) for t in topology.triangles.tolist()}) == 852
    assert (signed_areas(topology.canonical, topology.triangles) > 0).all()


def test_mirror_is_an_involution_that_reflects_the_canonical_face() -> None:
    topology = load_topology()
    mirror = topology.mirror
    assert (mirror[mirror] == np.arange(478)).all()
    reflected = topology.canonical[mirror] * np.array([-1, 1, 1], np.float32)
    assert np.abs(reflected[:468] - topology.canonical[:468]).max() < 1e-5
    midline = np.flatnonzero(mirror[:468] == np.arange(468))
    assert 20 <= len(midline) <= 40  # nose ridge, lips centre, chin: a thin line, not half the face


def test_mirror_maps_almost_every_triangle_onto_a_triangle() -> None:
    topology = load_topology()
    known = {tuple(sorted(t)) for t in topology.triangles.tolist()}
    mirrored = [tuple(sorted(topology.mirror[t].tolist())) for t in topology.triangles]
    assert sum(t in known for t in mirrored) >= 852 - 12  # 6 quads are split the other way


def test_atlas_layout_is_symmetric_about_the_vertical_centre() -> None:
    topology = load_topology()
    uv = topology.uv
    assert uv.min() >= 0 and uv.max() <= 1
    assert np.allclose(uv[topology.mirror, 0], 1 - uv[:, 0], atol=1e-5)


def test_regions() -> None:
    topology = load_topology()
    assert len(topology.features) == 6
    assert topology.eye_triangles.shape == (32, 3)
    assert set(topology.forehead_top.tolist()) <= set(topology.oval.tolist())
    assert 10 in topology.forehead_top.tolist()  # the top of the forehead
