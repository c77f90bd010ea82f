"""PyTorch Geometric interop (`learned.graphs.pyg`): batches to PyG and back, PyG's DataLoader over simengine
windows, and a GNS processor block written as a PyG MessagePassing layer against simengine's."""
import os
import subprocess
import sys

import pytest
import torch
import torch_geometric
from torch_geometric.data import Batch
from torch_geometric.loader import DataLoader
from torch_geometric.nn import MessagePassing

import learned
from learned.data import WindowDataset, collate, describe, load_split
from learned.graphs import from_pyg, radius_graph, to_pyg
from simengine.errors import InputError

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))


def _assert_same_batch(a: dict, b: dict):
    assert sorted(a) == sorted(b)
    for key in a:
        assert torch.equal(a[key], b[key]), key


def _windows(root, frames, keys=()):
    return WindowDataset(load_split(root, "train"), frames, keys)


def test_a_batch_goes_to_pyg_and_back_unchanged(mesh_dataset):
    # sheets: per-frame positions, per-vertex mesh keys and cells (vertex indices shifted per sample)
    windows = _windows(mesh_dataset, 3, ("cells", "mesh_pos", "initial_position"))
    batch = collate([windows[i] for i in (0, 4, 11)])
    # and one key of each other layout: per frame and particle, per particle, per frame of a sample
    batch.update(velocity=torch.randn(batch["position"].shape), mass=torch.rand(batch["position"].shape[1]),
                 time=torch.rand(3, 3))
    senders, receivers = radius_graph(batch["position"][-1], 0.08, batch=batch["batch"], backend="torch")
    x = torch.randn(batch["position"].shape[1], 5)
    edge_attr = torch.randn(senders.numel(), 3)
    graphs = to_pyg(batch, edges=(senders, receivers), x=x, edge_attr=edge_attr)
    assert isinstance(graphs, Batch) and graphs.num_graphs == 3
    assert torch.equal(graphs.pos, batch["position"][-1]) and torch.equal(graphs.batch, batch["batch"])
    assert torch.equal(graphs.edge_index, torch.stack([senders, receivers]))
    assert torch.equal(graphs.x, x) and torch.equal(graphs.edge_attr, edge_attr)
    # each graph holds its own sample, in local numbers
    second = graphs.get_example(1)
    n = int(batch["num_particles"][1])
    assert second.num_nodes == n and int(second.edge_index.max()) < n and int(second.cells.max()) < n
    assert torch.equal(second.position, windows[4]["position"].movedim(0, 1))
    assert torch.equal(second.cells, windows[4]["cells"]) and second.time.shape == (1, 3)
    back = from_pyg(graphs)
    _assert_same_batch(back, {**batch, "senders": senders, "receivers": receivers, "x": x, "edge_attr": edge_attr})
    # the graph keys may also come inside the batch; a single window is a batch of one
    _assert_same_batch(from_pyg(to_pyg(back)), back)
    assert torch.equal(from_pyg(graphs.get_example(1))["cells"], windows[4]["cells"])
    one = from_pyg(to_pyg(windows[2]))
    _assert_same_batch(one, collate([windows[2]]))


def test_conversion_errors_name_the_problem(ballistic_dataset):
    windows = _windows(ballistic_dataset, 7)
    batch = collate([windows[0], windows[1]])
    n = batch["position"].shape[1]
    with pytest.raises(InputError, match="two different samples"):
        to_pyg(batch, edges=(torch.tensor([0]), torch.tensor([n - 1])))
    with pytest.raises(InputError, match="must lie in"):
        to_pyg(batch, edges=(torch.tensor([0]), torch.tensor([n])))
    with pytest.raises(InputError, match="x has 3 rows"):
        to_pyg(batch, x=torch.zeros(3, 2))
    with pytest.raises(InputError, match="neither 'position'"):
        from_pyg(torch_geometric.data.Data(x=torch.zeros(3, 2)))
    with pytest.raises(InputError, match="'colour' is not a simengine trajectory key"):
        from_pyg(torch_geometric.data.Data(pos=torch.zeros(3, 2), colour=torch.zeros(3)))


def test_pyg_dataloader_iterates_simengine_windows(ballistic_dataset):
    from learned.graphs import PygWindowDataset

    windows = _windows(ballistic_dataset, 7)
    loader = DataLoader(PygWindowDataset(windows, radius=0.1, backend="torch"), batch_size=4, shuffle=False)
    seen = 0
    for graphs in loader:
        assert isinstance(graphs, Batch)
        samples = [windows[i] for i in range(seen, seen + graphs.num_graphs)]
        expected = collate(samples)
        senders, receivers = radius_graph(expected["position"][-1], 0.1, batch=expected["batch"], backend="torch")
        _assert_same_batch(from_pyg(graphs), {**expected, "senders": senders, "receivers": receivers})
        seen += graphs.num_graphs
    assert seen == len(windows)


class InteractionNetwork(MessagePassing):
    """A GNS processor block in PyG: e'_ij = e_ij + φ([e_ij, h_i, h_j]), h'_i = h_i + ψ([h_i, Σ_j e'_ij])
    (i = target = receiver, j = source = sender), φ's first layer one Linear over the concatenation."""

    def __init__(self, latent: int):
        super().__init__(aggr="add", flow="source_to_target")
        self.edge_mlp = torch.nn.Sequential(torch.nn.Linear(3 * latent, latent), torch.nn.ReLU(),
                                            torch.nn.Linear(latent, latent), torch.nn.ReLU(),
                                            torch.nn.Linear(latent, latent), torch.nn.LayerNorm(latent))
        self.node_mlp = torch.nn.Sequential(torch.nn.Linear(2 * latent, latent), torch.nn.ReLU(),
                                            torch.nn.Linear(latent, latent), torch.nn.ReLU(),
                                            torch.nn.Linear(latent, latent), torch.nn.LayerNorm(latent))

    def forward(self, x, edge_index, edge_attr):
        update = self.edge_updater(edge_index, x=x, edge_attr=edge_attr)
        messages = self.propagate(edge_index, update=update, size=(x.shape[0], x.shape[0]))
        return x + self.node_mlp(torch.cat([x, messages], -1)), edge_attr + update

    def edge_update(self, x_i, x_j, edge_attr):
        return self.edge_mlp(torch.cat([edge_attr, x_i, x_j], -1))

    def message(self, update):
        return update

    @torch.no_grad()
    def load_block(self, block):
        """Take the weights of a `learned.nn.GraphNetBlock` (one edge set, 2 hidden layers)."""
        edge = block.edge_models[0]
        first = self.edge_mlp[0]
        first.weight.copy_(torch.cat([edge.edge_in.weight, edge.receiver_in.weight, edge.sender_in.weight], 1))
        first.bias.copy_(edge.edge_in.bias)
        for mine, theirs in zip([m for m in self.edge_mlp[1:] if list(m.parameters())],
                                [m for m in edge.rest if list(m.parameters())]):
            mine.load_state_dict(theirs.state_dict())
        self.node_mlp.load_state_dict(block.node_model.state_dict())


def test_gns_processor_as_pyg_message_passing_matches(ballistic_dataset):
    torch.manual_seed(0)
    info = describe(ballistic_dataset)
    model = learned.get("gns").from_dataset(info, latent=16, message_passing_steps=3, graph_backend="torch")
    model.eval()
    windows = _windows(ballistic_dataset, model.window_frames())
    batch = collate([windows[i] for i in (0, 9, 30)])
    captured = {}
    model.network.register_forward_pre_hook(lambda module, args: captured.update(nodes=args[0], edges=args[1][0]))
    with torch.no_grad():
        expected = model.normalised_acceleration(batch)
    features, senders, receivers = captured["edges"]
    graphs = to_pyg(batch, edges=(senders, receivers), x=captured["nodes"], edge_attr=features)
    assert graphs.edge_index.shape[1] > 3 * 40  # a graph with many edges per particle

    network = model.network
    layers = []
    for block in network.blocks:
        layer = InteractionNetwork(16)
        layer.load_block(block)
        layers.append(layer)
    with torch.no_grad():
        nodes, edges = network.node_encoder(graphs.x), network.edge_encoders[0](graphs.edge_attr)
        reference_nodes, reference_sets = nodes, [(edges, senders, receivers)]
        for layer, block in zip(layers, network.blocks):
            nodes, edges = layer(nodes, graphs.edge_index, edges)
            reference_nodes, reference_sets = block(reference_nodes, reference_sets)
            # each block: the same node and edge latents
            torch.testing.assert_close(nodes, reference_nodes, rtol=1e-5, atol=1e-5)
            torch.testing.assert_close(edges, reference_sets[0][0], rtol=1e-5, atol=1e-5)
        output = network.decoder(nodes)
    torch.testing.assert_close(output, expected, rtol=1e-5, atol=1e-5)


def test_import_learned_does_not_import_torch_geometric():
    code = ("import sys, learned, learned.graphs, learned.data, learned.train, learned.commands.train; "
            "print('torch_geometric' in sys.modules)")
    done = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "False"
