"""HCMT (Yu et al., ICLR 2024): the CMT attention by hand, invariance, per-axis kinematics, overfitting, errors,
MeshGraphNets' contact edges and stress, and train/rollout/compare on a generated impact-plate set."""
import json
import math
import os

import numpy as np
import pytest
import torch

import learned
from learned.data import WindowDataset, collate, describe
from learned.graphs.contact import contact_edges
from learned.models.hcmt import TransformerBlock
from simengine.errors import DatasetError, InputError
from simengine.fem import meshes
from simengine.io import ParticleType, Trajectory, write_dataset
from tests.scene_scripts import shortened

SMALL = dict(latent=8, heads=2, levels=3, cmt_blocks=1, mlp_layers=1, noise_std=0.0)
NORMAL, OBSTACLE, HANDLE, SYMMETRIC = 0, 1, 3, 7


def plate_trajectory(rng, frames=10) -> Trajectory:
    """A small half-model plate (SYMMETRIC at x = 0, HANDLE at x = L) swinging under a disk moving down."""
    length, thick = 0.02, 0.002
    v, c = meshes.rectangle(length, thick, 10, 2)
    vd, cd = meshes.disk((0.0, thick + 0.0025), 0.002, 8)
    rest = np.concatenate([v, vd])
    cells = np.concatenate([c, cd + len(v)]).astype(np.int32)
    n, plate = len(rest), len(v)
    node_type = np.full(n, NORMAL, np.int32)
    node_type[:plate][v[:, 0] < 1e-9] = SYMMETRIC
    node_type[:plate][v[:, 0] > length - 1e-9] = HANDLE
    node_type[plate:] = OBSTACLE
    ptype = np.full(n, int(ParticleType.ELASTIC), np.int32)
    ptype[node_type == HANDLE] = int(ParticleType.PINNED)
    ptype[plate:] = int(ParticleType.RIGID_BODY)
    amp, omega, speed = rng.uniform(2e-4, 4e-4), rng.uniform(0.2, 0.4), rng.uniform(1e-4, 2e-4)
    shape = (1.0 - rest[:, 0] / length) ** 2
    pos, stress = [], []
    for t in range(frames):
        x = rest.copy()
        x[:plate, 1] -= amp * math.sin(omega * t) * shape[:plate]
        x[:plate, 0] += 0.1 * amp * math.sin(omega * t) * shape[:plate] * rest[:plate, 0] / length
        x[plate:, 1] -= speed * t
        pos.append(x)
        s = np.zeros(n)
        s[:plate] = 1e6 * abs(math.sin(omega * t)) * (1.0 - rest[:plate, 0] / length)
        stress.append(s)
    params = np.zeros((n, 3), np.float32)
    params[:plate] = (2e9, 0.3, 1500.0)
    return Trajectory(np.array(pos, np.float32), ptype, dt=1e-5, extras={
        "cells": cells, "mesh_pos": rest.astype(np.float32), "node_type": node_type,
        "stress": np.array(stress, np.float32), "material_params": params}, metadata={"simulator": "fem"})


@pytest.fixture(scope="module")
def plate_dataset(tmp_path_factory):
    rng = np.random.default_rng(0)
    root = tmp_path_factory.mktemp("plate")
    write_dataset(root, {"train": [plate_trajectory(rng) for _ in range(2)], "test": [plate_trajectory(rng)]},
                  {"simulator": "fem"})
    return str(root)


def first_window(model, root, index=4, split="train"):
    from learned.data import load_split

    trajs = load_split(root, split)
    keys = model.data_keys(tuple(trajs[0].extras))
    return collate([WindowDataset(trajs, model.input_frames + 1, keys)[index]]), trajs, keys


def test_cmt_block_attention_matches_a_hand_computation(one_torch_thread):
    torch.manual_seed(0)
    latent, heads = 4, 2
    block = TransformerBlock(latent, heads, edge_sets=2).double()
    with torch.no_grad():
        for p in block.parameters():
            p.copy_(torch.randn_like(p))
    h = torch.randn(3, latent, dtype=torch.float64)
    mesh = (torch.randn(3, latent, dtype=torch.float64), torch.tensor([0, 1, 2]), torch.tensor([1, 2, 0]))
    contact = (torch.randn(1, latent, dtype=torch.float64), torch.tensor([2]), torch.tensor([1]))
    got = block(h, [mesh, contact]).detach().numpy()

    def layer_norm(x, norm):
        x = np.asarray(x)
        mu, var = x.mean(-1, keepdims=True), x.var(-1, keepdims=True)
        return (x - mu) / np.sqrt(var + norm.eps) * norm.weight.detach().numpy() + norm.bias.detach().numpy()

    att = block.attention
    W = {k: getattr(att, k).weight.detach().numpy() for k in ("query", "key", "value", "edge_score", "edge_gate")}
    hn = layer_norm(h.numpy(), block.node_norm)
    d = latent // heads
    aggregates = []
    for (e, s, r), norm in zip((mesh, contact), block.edge_norms):
        en = layer_norm(e.numpy(), norm)
        a = np.zeros((3, latent))
        for k in range(len(s)):
            i, j = int(s[k]), int(r[k])  # sender i -> receiver j
            for ch in range(latent):
                key, query, edge = W["key"][ch] @ hn[i], W["query"][ch] @ hn[j], W["edge_score"][ch] @ en[k]
                score = min(2.0, max(-2.0, key * query / math.sqrt(d) * edge))
                a[j, ch] += math.exp(score) * (W["value"][ch] @ hn[i]) * (W["edge_gate"][ch] @ en[k])
        aggregates.append(a)
    x = h.numpy() + np.concatenate(aggregates, 1) @ block.out.weight.detach().numpy().T
    f1, f2, f3 = (m.weight.detach().numpy() for m in block.ffn if isinstance(m, torch.nn.Linear))
    y = layer_norm(x, block.ffn_norm)
    expected = x + np.maximum(np.maximum(y @ f1.T, 0) @ f2.T, 0) @ f3.T
    np.testing.assert_allclose(got, expected, rtol=1e-10, atol=1e-10)
    # only node 1 receives a contact edge
    assert aggregates[1][0].tolist() == aggregates[1][2].tolist() == [0.0] * latent and aggregates[1][1].any()


def test_predictions_are_translation_invariant(plate_dataset, one_torch_thread):
    torch.manual_seed(1)
    model = learned.get("hcmt").from_dataset(describe(plate_dataset), **SMALL).double()
    window, _, _ = first_window(model, plate_dataset)
    window = {k: v.double() if torch.is_tensor(v) and v.is_floating_point() else v for k, v in window.items()}
    model.train()
    model.one_step_loss(window)  # fills the online normalisers
    model.eval()
    inputs = {**window, "position": window["position"][:2]}
    shift = torch.tensor([0.37, -1.2], dtype=torch.float64)
    a = model.predict_next(inputs)
    b = model.predict_next({**inputs, "position": inputs["position"] + shift})
    torch.testing.assert_close(b["position"] - shift, a["position"], rtol=0, atol=1e-12)
    torch.testing.assert_close(b["stress"], a["stress"], rtol=1e-9, atol=1e-6)
    assert float((a["position"] - inputs["position"][-1]).detach().abs().max()) > 0  # it predicts a motion


def test_rollout_respects_the_kinematic_axes(plate_dataset, one_torch_thread):
    torch.manual_seed(2)
    model = learned.get("hcmt").from_dataset(describe(plate_dataset), **SMALL)
    model.eval()
    _, trajs, keys = first_window(model, plate_dataset)
    sample = collate([WindowDataset(trajs, 1, keys).trajectory(0)])
    result = model.rollout(sample, 6)
    truth = sample["position"][2:8]
    types = sample["node_type"]
    sym, handle = types == SYMMETRIC, types == HANDLE
    assert torch.equal(result.position[:, sym, 0], truth[:, sym, 0])        # SYMMETRIC: x prescribed ...
    assert not torch.equal(result.position[:, sym, 1], truth[:, sym, 1])    # ... y predicted
    assert torch.equal(result.position[:, handle], truth[:, handle])         # HANDLE: every axis
    assert result.extras["stress"].shape == truth.shape[:2]
    fixed = model.kinematic_axes(sample)
    assert fixed[sym].tolist() == [[True, False]] * int(sym.sum()) and bool(fixed[handle].all())
    assert not bool(fixed[types == OBSTACLE].any())  # the impactor is predicted, not scripted
    # without fixed_axes (every other model) the per-axis mask is the per-particle kinematic mask
    mgn = learned.create("meshgraphnets", dim=2, latent=8, message_passing_steps=1)
    assert torch.equal(mgn.kinematic_axes(sample), mgn.kinematic_mask(sample["particle_type"])[:, None].expand(-1, 2))


def test_overfits_one_trajectory(plate_dataset, one_torch_thread):
    torch.manual_seed(3)
    model = learned.get("hcmt").from_dataset(describe(plate_dataset), **{**SMALL, "latent": 16})
    from learned.data import load_split

    trajs = load_split(plate_dataset, "train")[:1]
    keys = model.data_keys(tuple(trajs[0].extras))
    windows = WindowDataset(trajs, 3, keys)
    batch = collate([windows[i] for i in range(len(windows))])
    optimiser = torch.optim.Adam(model.parameters(), lr=5e-3)
    losses = []
    for _ in range(80):
        loss, _ = model.one_step_loss(batch, noise=False)
        optimiser.zero_grad()
        loss.backward()
        optimiser.step()
        losses.append(float(loss.detach()))
    assert losses[-1] < 0.05 * losses[0], (losses[0], losses[-1])


def test_clear_errors(plate_dataset, tmp_path, one_torch_thread):
    from learned.data import load_split

    info = describe(plate_dataset)
    with pytest.raises(InputError, match="the mesh supports only"):
        model = learned.get("hcmt").from_dataset(info, **{**SMALL, "levels": 12})
        model.predict_next(first_window(model, plate_dataset)[0])
    for key in ("mesh_pos", "node_type", "cells"):
        trajs = load_split(plate_dataset, "train")
        for t in trajs:
            del t.extras[key]
        root = tmp_path / f"no_{key}"
        write_dataset(root, {"train": trajs}, {"simulator": "fem"})
        with pytest.raises(DatasetError, match=rf"needs key\(s\) \[.*'{key}'.*the dataset's trajectories have"):
            learned.get("hcmt").from_dataset(describe(str(root)), **SMALL)
    # a model trained on node types {0, 1, 3, 7} refuses data with another type
    model = learned.get("hcmt").from_dataset(info, **SMALL)
    window, _, _ = first_window(model, plate_dataset)
    model.one_step_loss(window)
    model.eval()
    other = {**window, "node_type": torch.where(window["node_type"] == SYMMETRIC, 2, window["node_type"])}
    with pytest.raises(InputError, match=r"node type\(s\) \[2\] that this model was not trained on "
                                         r"\(trained on node types \[0, 1, 3, 7\]\)"):
        model.predict_next({**other, "position": other["position"][:2]})


def test_meshgraphnets_contact_edges_and_stress(plate_dataset, one_torch_thread):
    torch.manual_seed(4)
    model = learned.get("meshgraphnets").from_dataset(describe(plate_dataset), latent=8, message_passing_steps=2,
                                                      contact=True, contact_radius=0.004, stress=True,
                                                      fixed_axes={3: [0, 1], 7: [0]})
    assert "stress" in model.required_keys and model.predicted_keys == ("stress",)
    window, trajs, keys = first_window(model, plate_dataset)
    loss, logs = model.one_step_loss(window)
    loss.backward()
    assert {"position_loss", "stress_loss"} <= set(logs)
    # the world edge set is the contact edge set: captured at the network's input
    seen = {}
    network_forward = model.network.forward

    def spy(nodes, edge_sets):
        seen["world"] = edge_sets[1][1:]
        return network_forward(nodes, edge_sets)

    model.network.forward = spy
    model.eval()
    out = model.predict_next({**window, "position": window["position"][:2]})
    expected = contact_edges(window["position"][1], window["node_type"] == OBSTACLE, 0.004)
    assert seen["world"][0].numel() > 0
    assert all(torch.equal(a, b) for a, b in zip(seen["world"], expected))
    assert out["stress"].shape == window["node_type"].shape
    sample = collate([WindowDataset(trajs, 1, keys).trajectory(0)])
    result = model.rollout(sample, 4)
    sym = sample["node_type"] == SYMMETRIC
    assert torch.equal(result.position[:, sym, 0], sample["position"][2:6, sym, 0])
    assert result.extras["stress"].shape == (4, sample["position"].shape[1])


def test_train_rollout_compare_on_generated_impact_plate(tmp_path, one_torch_thread):
    from simengine.cli import main
    from simengine.generate import generate_dataset

    script = shortened(tmp_path, "impact_plate", "duration=1.2e-4, record_every=200")
    data = str(tmp_path / "impact")
    generate_dataset(script, data, {"train": 1, "test": 1}, workers=1, seed=0, progress=False)
    run = str(tmp_path / "run")
    assert main(["train", "hcmt", "--data", data, "--out", run, "--steps", "3", "--quiet",
                 "--set", "model.latent=8", "--set", "model.heads=2", "--set", "model.levels=4",
                 "--set", "model.cmt_blocks=1", "--set", "model.mlp_layers=1", "--set", "model.noise_std=1e-6",
                 "--set", "train.batch_size=1", "--set", "train.val_rollout_steps=0",
                 "--set", "train.num_threads=1"]) == 0
    assert main(["rollout", run, "--data", data, "--split", "test", "--checkpoint", "last", "--steps", "3",
                 "--quiet"]) == 0
    from learned.data import load_split

    pred, truth = load_split(os.path.join(run, "rollout"), "test")[0], load_split(data, "test")[0]
    assert pred.position.shape == (5,) + truth.position.shape[1:]
    assert pred.extras["stress"].shape == (5, pred.num_particles)
    sym = truth.extras["node_type"] == SYMMETRIC
    assert np.array_equal(pred.position[:, sym, 0], truth.position[:5, sym, 0])
    assert main(["compare", run, "--data", data, "--split", "test", "--gifs", "0", "--quiet"]) == 0
    with open(os.path.join(run, "compare", "metrics.json")) as f:
        assert "prediction" in json.load(f)["summary"]
