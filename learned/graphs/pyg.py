"""PyTorch Geometric interop: simengine window batches as `torch_geometric.data.Data`/`Batch` and back, and
a dataset of windows that PyG's `DataLoader` batches.

This module imports torch_geometric (seconds); ``import learned`` never imports it. Use it through
`learned.graphs.to_pyg`, `learned.graphs.from_pyg` and `learned.graphs.PygWindowDataset`, which import it on
first use. Only PyG's pure-Python package is needed (no pyg-lib, torch-scatter or torch-cluster): the radius
graphs stay simengine's (`learned.graphs.radius_graph`, Warp's `HashGrid`).

A simengine batch (`learned.data.collate`, layout in `learned.data.windows`) concatenates the windows of B
samples along the particle axis; its graph, where there is one, is ``senders``/``receivers`` (E,) (edge j -> i:
i receives from j, global particle numbers) with optional node features ``x`` (N, F) and edge features
``edge_attr`` (E, F_e). One PyG graph per sample (`WindowData`) holds:

    pos             (n, D)          the window's last frame (the positions a graph is built on)
    position        (n, W, D)       the whole window, node-major (PyG concatenates along dimension 0)
    particle_type   (n,)
    edge_index      (2, e)          [senders; receivers] of the sample, local numbers (PyG's source -> target)
    edge_attr, x    (e, F_e), (n, F)
    <key> "TN"      (n, W, ...)     per-frame per-particle keys, node-major
    <key> "N"/node  (n, ...)
    <key> "T"/sample (1, ...)       per-sample keys (PyG stacks them to (B, ...))
    cells           (C, K)          local vertex numbers (PyG shifts them by the node offset when batching)

`to_pyg` returns a `torch_geometric.data.Batch` of these; `from_pyg` turns a `Batch` (or one graph) back into
the simengine layout, graph keys included, so ``from_pyg(to_pyg(batch))`` equals ``batch`` (edges grouped by
sample, in their order within each sample; radius graphs already are).
"""
from __future__ import annotations

import torch
from torch_geometric.data import Batch, Data

from learned.data.windows import collate, key_layout
from learned.graphs.radius import radius_graph
from simengine.errors import InputError

GRAPH_KEYS = ("senders", "receivers", "x", "edge_attr")
# keys with a place of their own in a PyG graph (not converted by layout)
_SPECIAL = ("pos", "position", "particle_type", "edge_index", "edge_attr", "x", "batch", "ptr", "num_nodes")


def _layout(key: str) -> str | None:
    try:
        return key_layout(key)
    except InputError:
        return None


class WindowData(Data):
    """One simengine window as a PyG graph (layout in the module docstring). Batching shifts ``edge_index``
    and index keys (``cells``) by the node offset and concatenates everything along dimension 0."""

    def __inc__(self, key, value, *args, **kwargs):
        if key == "edge_index" or (key not in _SPECIAL and _layout(key) == "index"):
            return self.num_nodes
        if key in _SPECIAL or _layout(key) is not None:
            return 0
        return super().__inc__(key, value, *args, **kwargs)

    def __cat_dim__(self, key, value, *args, **kwargs):
        if key == "edge_index":
            return -1
        if key in _SPECIAL or _layout(key) is not None:
            return 0
        return super().__cat_dim__(key, value, *args, **kwargs)


def _as_batch(batch: dict) -> dict:
    """A collated batch; a single window (no ``batch`` key) becomes a batch of one."""
    if "batch" in batch:
        return batch
    if "position" not in batch or "particle_type" not in batch:
        raise InputError(f"to_pyg needs a window or batch with 'position' and 'particle_type', got {sorted(batch)}")
    graph = {k: batch[k] for k in GRAPH_KEYS if k in batch}
    return {**collate([{k: v for k, v in batch.items() if k not in GRAPH_KEYS}]), **graph}


def window_data(sample: dict, edges=None, x=None, edge_attr=None) -> WindowData:
    """One window (`learned.data.WindowDataset` item) as a `WindowData`; ``edges`` (senders, receivers) in the
    window's particle numbers."""
    batch = {**sample, **_graph_dict(edges, x, edge_attr)}
    return _split(_as_batch(batch))[0]


def _graph_dict(edges, x, edge_attr) -> dict:
    graph = {}
    if edges is not None:
        graph["senders"], graph["receivers"] = edges
    if x is not None:
        graph["x"] = x
    if edge_attr is not None:
        graph["edge_attr"] = edge_attr
    return graph


def _split(batch: dict) -> list:
    """The samples of a collated batch (with optional graph keys) as `WindowData` graphs."""
    counts = [int(c) for c in batch["num_particles"]]
    total = sum(counts)
    position = batch["position"]
    if position.ndim != 3 or position.shape[1] != total:
        raise InputError(f"position has shape {tuple(position.shape)}; expected (frames, {total}, dim) for "
                         f"num_particles {counts}")
    sample_of = batch["batch"]
    offsets = [0]
    for c in counts:
        offsets.append(offsets[-1] + c)
    edge_sample = None
    if ("senders" in batch) != ("receivers" in batch):
        raise InputError("a graph needs both 'senders' and 'receivers'")
    if "senders" in batch:
        senders, receivers = batch["senders"].long(), batch["receivers"].long()
        if senders.shape != receivers.shape or senders.ndim != 1:
            raise InputError(f"senders {tuple(senders.shape)} and receivers {tuple(receivers.shape)} must be "
                             f"two (E,) tensors")
        if senders.numel() and (int(torch.minimum(senders, receivers).min()) < 0
                                or int(torch.maximum(senders, receivers).max()) >= total):
            raise InputError(f"edge endpoints must lie in [0, {total}) (the batch's particles)")
        edge_sample = sample_of[receivers]
        if not torch.equal(edge_sample, sample_of[senders]):
            raise InputError("an edge connects particles of two different samples of the batch")
        if "edge_attr" in batch and batch["edge_attr"].shape[0] != senders.shape[0]:
            raise InputError(f"edge_attr has {batch['edge_attr'].shape[0]} rows for {senders.shape[0]} edges")
    elif "edge_attr" in batch:
        raise InputError("edge_attr without senders/receivers")
    if "x" in batch and batch["x"].shape[0] != total:
        raise InputError(f"x has {batch['x'].shape[0]} rows for {total} particles")
    graphs = []
    for b, (start, n) in enumerate(zip(offsets[:-1], counts)):
        stop = start + n
        fields = {"pos": position[-1, start:stop], "position": position[:, start:stop].movedim(0, 1),
                  "particle_type": batch["particle_type"][start:stop]}
        if "x" in batch:
            fields["x"] = batch["x"][start:stop]
        if edge_sample is not None:
            mine = edge_sample == b
            fields["edge_index"] = torch.stack([senders[mine], receivers[mine]]) - start
            if "edge_attr" in batch:
                fields["edge_attr"] = batch["edge_attr"][mine]
        for key, value in batch.items():
            if key in _SPECIAL or key in GRAPH_KEYS or key == "num_particles":
                continue
            layout = key_layout(key)
            if layout == "TN":
                fields[key] = value[:, start:stop].movedim(0, 1)
            elif layout in ("N", "node"):
                fields[key] = value[start:stop]
            elif layout in ("T", "sample"):
                fields[key] = value[b:b + 1]
            else:  # index rows belong to the sample of their first vertex
                rows = sample_of[value[:, 0].long()] == b if value.numel() else torch.zeros(0, dtype=torch.bool)
                fields[key] = value[rows] - start
        graphs.append(WindowData(num_nodes=n, **fields))
    return graphs


def to_pyg(batch: dict, *, edges=None, x=None, edge_attr=None, radius: float | None = None, **graph_options):
    """A simengine window or batch (`learned.data.collate`) as a `torch_geometric.data.Batch`, one graph per
    sample.

    The graph: ``edges`` = (senders, receivers) (E,) in the batch's particle numbers, else the batch's own
    ``senders``/``receivers`` keys, else, with ``radius``, `learned.graphs.radius_graph` over the last frame
    (``graph_options``: max_neighbors, lower, length, periodic, backend), else none. ``x`` (N, F) and
    ``edge_attr`` (E, F_e) likewise from the arguments or the batch's keys.
    """
    batch = {**batch, **_graph_dict(edges, x, edge_attr)}
    if "senders" not in batch and radius is not None:
        batch["senders"], batch["receivers"] = radius_graph(batch["position"][-1], radius, batch=batch.get("batch"),
                                                            **graph_options)
    return Batch.from_data_list(_split(_as_batch(batch)))


def from_pyg(data) -> dict:
    """A `torch_geometric.data.Batch` (or one `Data` graph) in simengine's batch layout (`learned.data.collate`),
    with the graph as ``senders``/``receivers`` (global numbers) and ``x``/``edge_attr`` where present.

    Graphs made elsewhere need ``pos`` (N, D) or ``position`` (N, W, D); other attributes must be simengine
    trajectory keys (`simengine.io.OPTIONAL_KEYS`) in the `WindowData` layout.
    """
    if not isinstance(data, Data):
        raise InputError(f"from_pyg takes a torch_geometric Data or Batch, not {type(data).__name__}")
    keys = set(data.keys())
    if "position" in keys:
        position = data["position"].movedim(1, 0)
    elif "pos" in keys:
        position = data["pos"][None]
    else:
        raise InputError(f"the graph has neither 'position' (N, W, D) nor 'pos' (N, D): it has {sorted(keys)}")
    n = position.shape[1]
    if isinstance(data, Batch):
        sample_of = data.batch
        counts = torch.diff(data.ptr) if "ptr" in keys else torch.bincount(sample_of, minlength=data.num_graphs)
    else:
        sample_of = torch.zeros(n, dtype=torch.long, device=position.device)
        counts = torch.tensor([n], device=position.device)
    out = {"position": position}
    if "particle_type" in keys:
        out["particle_type"] = data["particle_type"]
    out["batch"], out["num_particles"] = sample_of, counts.long()
    for key in sorted(keys - set(_SPECIAL)):
        layout = _layout(key)
        if layout is None:
            raise InputError(f"graph attribute {key!r} is not a simengine trajectory key; allowed: "
                             f"{sorted(_SPECIAL)} and the keys of simengine.io.OPTIONAL_KEYS")
        value = data[key]
        out[key] = value.movedim(1, 0) if layout == "TN" else value
    if "edge_index" in keys:
        out["senders"], out["receivers"] = data["edge_index"][0], data["edge_index"][1]
    for key in ("x", "edge_attr"):
        if key in keys:
            out[key] = data[key]
    return out


class PygWindowDataset(torch.utils.data.Dataset):
    """The windows of a `learned.data.WindowDataset` as `WindowData` graphs, for PyG's `DataLoader`:

        loader = torch_geometric.loader.DataLoader(PygWindowDataset(windows, radius=0.015), batch_size=4)
        for graphs in loader:           # a torch_geometric Batch
            batch = from_pyg(graphs)    # simengine layout, senders/receivers included

    ``radius``: edges of `learned.graphs.radius_graph` over each window's last frame (``graph_options`` go to
    it); None: graphs without edges. ``transform``: optional callable applied to each `WindowData`.
    """

    def __init__(self, windows, radius: float | None = None, transform=None, **graph_options):
        self.windows, self.radius, self.transform, self.graph_options = windows, radius, transform, graph_options

    def __len__(self) -> int:
        return len(self.windows)

    def __getitem__(self, index: int) -> WindowData:
        sample = self.windows[index]
        edges = None
        if self.radius is not None:
            edges = radius_graph(sample["position"][-1], self.radius, **self.graph_options)
        data = window_data(sample, edges)
        return self.transform(data) if self.transform is not None else data
