"""Graph builders against brute-force NumPy references and hand-made cases."""
import numpy as np
import pytest
import torch

from learned.graphs import (
    cells_to_edges,
    farthest_point_sampling,
    minimum_image,
    radius_graph,
    random_subsample,
    remove_edges,
)
from simengine.errors import InputError


def brute_force_pairs(x, r, length=None, periodic=None, batch=None):
    """Set of (sender, receiver) with |x_s - x_r| <= r (minimum image on periodic axes)."""
    d = x[None, :, :] - x[:, None, :]  # [receiver, sender]
    if periodic is not None:
        for k in range(x.shape[1]):
            if periodic[k]:
                d[..., k] -= length[k] * np.round(d[..., k] / length[k])
    close = (d ** 2).sum(-1) <= r * r
    np.fill_diagonal(close, False)
    if batch is not None:
        close &= batch[None, :] == batch[:, None]
    return {(int(s), int(q)) for q, s in zip(*np.nonzero(close))}


@pytest.mark.parametrize("backend", ["warp", "torch"])
@pytest.mark.parametrize("dim,periodic", [(2, None), (2, (True, False)), (3, (True, True, True))])
def test_radius_graph_matches_brute_force(backend, dim, periodic):
    rng = np.random.default_rng(dim)
    x = rng.random((300, dim)).astype(np.float32)
    r = 0.12
    length = np.ones(dim, np.float32) if periodic else None
    lower = np.zeros(dim, np.float32) if periodic else None
    s, q = radius_graph(torch.from_numpy(x), r, lower=lower, length=length, periodic=periodic, backend=backend)
    assert set(zip(s.tolist(), q.tolist())) == brute_force_pairs(x.astype(np.float64), r, length, periodic)
    assert torch.all(q[1:] >= q[:-1])  # sorted by receiver


def test_periodic_edges_cross_the_boundary_with_minimum_image():
    x = torch.tensor([[0.01, 0.5], [0.99, 0.5], [0.5, 0.5]])
    s, q = radius_graph(x, 0.05, lower=[0, 0], length=[1, 1], periodic=[True, False])
    assert set(zip(s.tolist(), q.tolist())) == {(0, 1), (1, 0)}
    d = minimum_image(x[s] - x[q], torch.tensor([1.0, 1.0]), torch.tensor([True, False]))
    torch.testing.assert_close(d.abs()[:, 0], torch.full((2,), 0.02), rtol=0, atol=1e-6)
    with pytest.raises(InputError, match="2 x radius"):
        radius_graph(x, 0.6, lower=[0, 0], length=[1, 1], periodic=[True, False])


@pytest.mark.parametrize("backend", ["warp", "torch"])
def test_batches_stay_apart_and_k_cap_keeps_nearest(backend):
    rng = np.random.default_rng(3)
    x = rng.random((200, 2)).astype(np.float32)
    x[100:] = x[:100]  # two samples on top of each other
    batch = np.repeat([0, 1], 100)
    s, q = radius_graph(torch.from_numpy(x), 0.15, batch=torch.from_numpy(batch), backend=backend)
    assert set(zip(s.tolist(), q.tolist())) == brute_force_pairs(x.astype(np.float64), 0.15, batch=batch)
    s, q = radius_graph(torch.from_numpy(x[:100]), 0.3, max_neighbors=4, backend=backend)
    dist = np.linalg.norm(x[:100, None] - x[None, :100], axis=-1)
    np.fill_diagonal(dist, np.inf)
    for i in range(0, 100, 7):
        nearest = np.argsort(dist[i], kind="stable")[:4]
        assert set(s[q == i].tolist()) == {int(j) for j in nearest if dist[i, j] <= 0.3}


def test_cells_to_edges_two_triangles():
    s, q = cells_to_edges(torch.tensor([[0, 1, 2], [1, 3, 2]]))
    undirected = {(0, 1), (0, 2), (1, 2), (1, 3), (2, 3)}
    assert set(zip(s.tolist(), q.tolist())) == undirected | {(b, a) for a, b in undirected}
    assert len(s) == 10  # the shared side 1-2 appears once per direction
    keep_s, keep_q = remove_edges(torch.tensor([0, 0, 3]), torch.tensor([1, 3, 0]), s, q, 4)
    assert list(zip(keep_s.tolist(), keep_q.tolist())) == [(0, 3), (3, 0)]
    with pytest.raises(InputError, match="num_nodes"):
        cells_to_edges(torch.tensor([[0, 1, 5]]), num_nodes=4)


def test_farthest_point_sampling_covers_extremes():
    x = torch.tensor([[0.0, 0.0], [0.1, 0.0], [1.0, 0.0], [0.5, 0.0], [0.9, 0.0]])
    assert farthest_point_sampling(x, 3).tolist() == [0, 2, 3]
    with pytest.raises(InputError, match="num_samples"):
        farthest_point_sampling(x, 6)


def test_random_subsample_is_seeded_and_sized():
    a = random_subsample(100, fraction=0.25, generator=torch.Generator().manual_seed(1))
    b = random_subsample(100, fraction=0.25, generator=torch.Generator().manual_seed(1))
    assert a.tolist() == b.tolist() and len(a) == 25 and len(set(a.tolist())) == 25
    with pytest.raises(InputError):
        random_subsample(10, 5, fraction=0.5)
