"""Verlet list against brute force over all periodic images, and the rebuild criterion."""
import itertools

import numpy as np
import pytest

from simengine import md
from simengine.runtime import init_warp


def _brute_force_pairs(x, cell, r_list, periodic=True):
    """{(i, j, image)} with |x_j + image·cell − x_i| < r_list, images in {−2..2}³ (plain NumPy)."""
    images = list(itertools.product(range(-2, 3), repeat=3)) if periodic else [(0, 0, 0)]
    pairs = set()
    for m in images:
        shift = np.asarray(m) @ cell
        d = x[None, :, :] + shift - x[:, None, :]
        i, j = np.nonzero((d ** 2).sum(-1) < r_list ** 2)
        pairs.update((a, b, m) for a, b in zip(i, j) if not (a == b and m == (0, 0, 0)))
    return pairs


def _listed_pairs(nl, cell):
    i, j, shifts = nl.pairs()
    images = np.rint(shifts @ np.linalg.inv(cell)).astype(int)
    np.testing.assert_allclose(images @ cell, shifts, atol=1e-9)   # shifts are lattice vectors
    listed = [(int(a), int(b), tuple(m)) for a, b, m in zip(i, j, images)]
    assert len(listed) == len(set(listed)), "a pair is listed twice"
    return set(listed)


def _owned(i, j):
    """The half list's rule: the lower index stores the pair when i + j is even, else the higher."""
    return (i < j) == ((i + j) % 2 == 0)


@pytest.mark.parametrize("half", [True, False])
@pytest.mark.parametrize("cell", [np.diag([11.0, 12.0, 13.5]),
                                  np.array([[11.0, 0, 0], [3.5, 10.5, 0], [-2.0, 2.5, 12.0]])])
def test_neighbor_list_matches_brute_force(cell, half):
    wp = init_warp()
    rng = np.random.default_rng(1)
    frac = rng.uniform(-0.3, 1.3, (150, 3))        # unwrapped: some atoms outside the cell
    x = frac @ cell
    box = md.Box(cell)
    nl = md.NeighborList(box, cutoff=3.5, skin=1.0, num_atoms=len(x), scalar=wp.float64, device="cpu", half=half)
    nl.max_neighbors = 4          # force the overflow-and-grow path
    nl._allocate()
    nl.build(wp.array(x, dtype=wp.vec3d))
    # listed shifts refer to unwrapped positions: translate brute-force images of the wrapped copies
    wrapped_image = np.floor(frac).astype(int)
    expected = {(i, j, tuple(np.asarray(m) + wrapped_image[i] - wrapped_image[j]))
                for i, j, m in _brute_force_pairs(box.wrap(x), cell, nl.r_list) if not half or _owned(i, j)}
    assert _listed_pairs(nl, cell) == expected
    if half:  # balanced: every atom owns about half of its pairs
        counts = nl.counts.numpy()
        assert counts[:75].sum() == pytest.approx(counts[75:].sum(), rel=0.15)


def test_open_system_and_molecule_exclusion():
    wp = init_warp()
    rng = np.random.default_rng(2)
    x = rng.uniform(0, 12.0, (80, 3))
    molecule = np.repeat(np.arange(40), 2)
    nl = md.NeighborList(md.Box(None, pbc=False), cutoff=3.0, skin=0.5, num_atoms=80, scalar=wp.float32,
                         device="cpu", molecule_id=molecule, half=False)
    nl.build(wp.array(x, dtype=wp.vec3f))
    expected = {(i, j, m) for i, j, m in _brute_force_pairs(x, np.eye(3), 3.5, periodic=False)
                if molecule[i] != molecule[j]}
    i, j, _ = nl.pairs()
    assert set(zip(i.tolist(), j.tolist(), [(0, 0, 0)] * len(i))) == expected


def test_rebuild_only_after_half_skin():
    wp = init_warp()
    cell = np.diag([12.0, 12.0, 12.0])
    x = np.random.default_rng(3).uniform(0, 12.0, (60, 3))
    nl = md.NeighborList(md.Box(cell), cutoff=4.0, skin=1.0, num_atoms=60, scalar=wp.float64, device="cpu")
    nl.build(wp.array(x, dtype=wp.vec3d))
    moved = x.copy()
    moved[7, 0] += 0.49
    assert not nl.update(wp.array(moved, dtype=wp.vec3d))
    moved[7, 0] += 0.02
    assert nl.update(wp.array(moved, dtype=wp.vec3d)) and nl.builds == 2


def test_skin_is_capped_at_half_the_box():
    wp = init_warp()
    nl = md.NeighborList(md.Box(np.diag([10.0, 10.0, 10.0])), cutoff=4.5, skin=2.0, num_atoms=2,
                         scalar=wp.float64, device="cpu")
    assert nl.r_list == pytest.approx(5.0) and nl.skin == pytest.approx(0.5)
