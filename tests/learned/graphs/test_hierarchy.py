"""Bi-stride mesh hierarchies (Cao et al. 2023) and contact edges between bodies (HCMT)."""
import numpy as np
import pytest
import torch
from scipy import sparse
from scipy.sparse import csgraph

from learned.graphs import cells_to_edges
from learned.graphs.contact import contact_edges
from learned.graphs.hierarchy import bistride_level, build_hierarchy, mesh_hierarchy
from simengine.errors import InputError
from simengine.fem import meshes


def plate_and_disk():
    """A 40 x 4 plate and a separate 16-segment disk: two connected components."""
    v, c = meshes.rectangle(0.1, 0.01, 40, 4)
    v2, c2 = meshes.disk((0.0, 0.03), 0.01, 16)
    cells = np.concatenate([c, c2 + len(v)])
    return np.concatenate([v, v2]), torch.as_tensor(cells), len(v)


def components(senders, receivers, n):
    a = sparse.coo_matrix((np.ones(len(senders)), (np.asarray(receivers), np.asarray(senders))), shape=(n, n))
    return csgraph.connected_components(a, directed=False)[1]


def test_levels_are_nested_connected_and_halve():
    vertices, cells, plate_nodes = plate_and_disk()
    n = len(vertices)
    s, r = cells_to_edges(cells, n)
    h = build_hierarchy(s, r, n, 5)
    sizes = h.sizes()
    assert h.num_levels == 5 and sizes[0] == n
    level0_labels = components(s, r, n)
    for level in range(1, 5):
        # each level's nodes are a subset of the level below (as level-0 ids too), in increasing order
        parent, child = set(h.nodes[level - 1].tolist()), h.nodes[level].tolist()
        assert set(child) <= parent and child == sorted(child)
        assert torch.equal(h.nodes[level], h.nodes[level - 1][h.index[level]])
        # about half the nodes survive each bi-stride step
        assert 0.35 * sizes[level - 1] <= sizes[level] <= 0.65 * sizes[level - 1] + 1, sizes
        # no self-loops, both directions, ids in range
        hs, hr = h.senders[level], h.receivers[level]
        assert not bool((hs == hr).any()) and int(torch.cat([hs, hr]).max()) < sizes[level]
        pairs = set(zip(hs.tolist(), hr.tolist()))
        assert all((b, a) in pairs for a, b in pairs)
        # every component of the full mesh stays one connected component at this level
        labels = components(hs, hr, sizes[level])
        kept_components = level0_labels[h.nodes[level].numpy()]
        assert len(set(labels.tolist())) == len(set(kept_components.tolist())) == 2
        for label in set(labels.tolist()):
            assert len(set(kept_components[labels == label].tolist())) == 1


def test_one_bistride_step_by_hand():
    # a path 0-1-2-3-4 and a separate edge 5-6: BFS from 0 and 5 keeps depths 0, 2, 4 -> nodes 0, 2, 4, 5
    s = np.array([0, 1, 2, 3, 5])
    r = np.array([1, 2, 3, 4, 6])
    keep, cs, cr = bistride_level(s, r, 7)
    assert keep.tolist() == [0, 2, 4, 5]
    # coarse edges: kept nodes two hops apart, 0-2 and 2-4 (coarse ids 0-1, 1-2); node 5 is alone
    assert sorted(zip(cs.tolist(), cr.tolist())) == [(0, 1), (1, 0), (1, 2), (2, 1)]


def test_too_many_levels_is_a_clear_error():
    _, cells, _ = plate_and_disk()
    s, r = cells_to_edges(cells)
    with pytest.raises(InputError, match=r"levels = 40: the mesh supports only \d+ level"):
        build_hierarchy(s, r, int(cells.max()) + 1, 40)
    with pytest.raises(InputError, match="levels = 0"):
        build_hierarchy(s, r, int(cells.max()) + 1, 0)


def test_batched_meshes_pool_like_each_mesh_and_are_cached():
    vertices, cells, _ = plate_and_disk()
    n = len(vertices)
    s, r = cells_to_edges(cells, n)
    one = mesh_hierarchy(s, r, n, 4)
    assert mesh_hierarchy(s, r, n, 4) is one  # cached by content
    s2, r2 = cells_to_edges(torch.cat([cells, cells + n]), 2 * n)
    two = mesh_hierarchy(s2, r2, 2 * n, 4)
    for level in range(4):
        assert torch.equal(two.nodes[level], torch.cat([one.nodes[level], one.nodes[level] + n]))


def test_contact_edges_join_groups_within_the_radius():
    rng = np.random.default_rng(0)
    x = torch.as_tensor(rng.random((60, 2)))
    group = torch.as_tensor(rng.random(60) < 0.3)
    batch = torch.as_tensor(np.repeat([0, 1], 30))
    s, r = contact_edges(x, group, 0.2, batch=batch)
    expected = {(i, j) for i in range(60) for j in range(60)
                if bool(group[i]) != bool(group[j]) and batch[i] == batch[j] and float((x[i] - x[j]).norm()) < 0.2}
    got = list(zip(s.tolist(), r.tolist()))
    assert len(got) == len(set(got)) and set(got) == expected and len(expected) > 10
    assert torch.equal(r, torch.sort(r).values)
    none_s, none_r = contact_edges(x, torch.zeros(60, dtype=torch.bool), 0.2)
    assert none_s.numel() == none_r.numel() == 0
    with pytest.raises(InputError, match="contact radius"):
        contact_edges(x, group, 0.0)
