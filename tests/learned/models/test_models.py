"""GNS and MeshGraphNets: registry, shapes, gradients, invariances, target/integration consistency."""
import numpy as np
import pytest
import torch

import learned
from learned.data import WindowDataset, collate, describe, load_split
from simengine.errors import InputError

SMALL_GNS = dict(latent=16, message_passing_steps=2, graph_backend="torch")
SMALL_MGN = dict(latent=16, message_passing_steps=2, graph_backend="torch")


def _batch(root, model, frames=None, count=2):
    trajs = load_split(root, "train")
    ds = WindowDataset(trajs, frames or model.window_frames(), model.data_keys(describe(root).keys))
    return collate([ds[i * 5] for i in range(count)])


def test_registry_lists_and_rejects():
    assert {"gns", "meshgraphnets"} <= set(learned.available())
    with pytest.raises(InputError, match="unknown config"):
        learned.create("gns", dim=2, latnet=3)
    with pytest.raises(InputError, match="dim"):
        learned.create("gns", dim=4)


@pytest.mark.parametrize("name, config", [("gns", SMALL_GNS), ("giorom", dict(latent=16, grid=4))])
def test_particle_types_beyond_the_type_embedding_are_refused(ballistic_dataset, name, config):
    import dataclasses

    info = describe(ballistic_dataset)
    foreign = dataclasses.replace(info, particle_types=(*info.particle_types, 20))
    with pytest.raises(InputError, match=rf"{name}: particle types \[20\] are outside \[0, num_particle_types = 4\)"):
        learned.get(name).from_dataset(foreign, num_particle_types=4, **config)


def test_gns_shapes_and_gradients(ballistic_dataset):
    model = learned.get("gns").from_dataset(describe(ballistic_dataset), **SMALL_GNS)
    batch = _batch(ballistic_dataset, model)
    n = batch["position"].shape[1]
    assert batch["position"].shape == (7, n, 2)  # 6 inputs + 1 target
    out = model.normalised_acceleration({**batch, "position": batch["position"][:6]})
    assert out.shape == (n, 2)
    assert model.predict_next({**batch, "position": batch["position"][:6]})["position"].shape == (n, 2)
    loss, logs = model.training_step(batch, generator=torch.Generator().manual_seed(0))
    loss.backward()
    grads = [p.grad for p in model.parameters()]
    assert all(g is not None and torch.isfinite(g).all() for g in grads)
    assert sum(float(g.abs().sum()) for g in grads) > 0 and logs["loss"] == pytest.approx(float(loss.detach()))


def test_gns_is_translation_invariant(ballistic_dataset):
    """Shifting particles and box by the same vector leaves the predicted acceleration unchanged."""
    info = describe(ballistic_dataset)
    model = learned.get("gns").from_dataset(info, **SMALL_GNS).eval()
    batch = _batch(ballistic_dataset, model, frames=6)
    # positions on a 2^-12 grid so that adding 0.25 / 0.5 is exact in float32
    batch["position"] = torch.round(batch["position"] * 4096) / 4096
    shift = torch.tensor([0.25, -0.5])
    with torch.no_grad():
        base = model.normalised_acceleration(batch)
        moved = {**batch, "position": batch["position"] + shift}
        model.set_summary({**model.summary, "bounds": (np.asarray(info.bounds) + shift.numpy()[:, None]).tolist()})
        torch.testing.assert_close(model.normalised_acceleration(moved), base, rtol=1e-5, atol=1e-5)
        model.set_summary({**model.summary, "bounds": None})  # no walls: invariant by itself
        free = model.normalised_acceleration(batch)
        torch.testing.assert_close(model.normalised_acceleration(moved), free, rtol=1e-5, atol=1e-5)
        assert not torch.allclose(free, base)  # the wall features did matter



def test_gns_acceleration_features_are_the_past_accelerations_on_the_target_scale(ballistic_dataset):
    info = describe(ballistic_dataset)
    plain = learned.get("gns").from_dataset(info, **SMALL_GNS)
    model = learned.get("gns").from_dataset(info, acceleration_features=True, **SMALL_GNS)
    extra = (model.input_frames - 2) * 2
    assert model.network.node_encoder[0].in_features == plain.network.node_encoder[0].in_features + extra
    batch = _batch(ballistic_dataset, model)
    seen = {}
    hook = model.network.node_encoder.register_forward_hook(lambda m, args, out: seen.update(x=args[0]))
    window = {**batch, "position": batch["position"][:6]}
    assert model.normalised_acceleration(window).shape == (batch["position"].shape[1], 2)
    hook.remove()
    pos = window["position"]
    past = (pos[2:] - 2 * pos[1:-1] + pos[:-2] - model.acc_mean) / model.acc_std
    velocities = (model.input_frames - 1) * 2
    # (x2 - x1) - (x1 - x0) against x2 - 2 x1 + x0: float32 rounding, divided by a small acc_std
    torch.testing.assert_close(seen["x"][:, velocities:velocities + extra], past.permute(1, 0, 2).reshape(-1, extra),
                               rtol=1e-3, atol=1e-4)
    loss, _ = model.training_step(batch, generator=torch.Generator().manual_seed(0))
    loss.backward()
    assert model.network.node_encoder[0].weight.grad[:, velocities:velocities + extra].abs().sum() > 0


def test_gns_mirror_axes_make_the_prediction_mirror_equivariant(ballistic_dataset):
    info = describe(ballistic_dataset)
    torch.manual_seed(0)
    model = learned.get("gns").from_dataset(info, mirror_axes=[0], **SMALL_GNS).eval()
    batch = _batch(ballistic_dataset, model, frames=6)
    batch["position"] = torch.round(batch["position"] * 4096) / 4096  # mirrored exactly in float32
    (lo, hi), _ = info.bounds
    mirrored = batch["position"].clone()
    mirrored[..., 0] = (lo + hi) - mirrored[..., 0]
    with torch.no_grad():
        nxt = model.predict_next(batch)["position"]
        back = model.predict_next({**batch, "position": mirrored})["position"]
        back[..., 0] = (lo + hi) - back[..., 0]
        torch.testing.assert_close(back, nxt, rtol=1e-5, atol=1e-5)
        model.config["mirror_axes"] = ()  # the bare network is not equivariant
        plain = model.predict_next(batch)["position"]
        assert not torch.allclose(plain, nxt)
    with pytest.raises(InputError, match="mirror_axes"):
        learned.get("gns").from_dataset(info, mirror_axes=[2], **SMALL_GNS)

def test_gns_integration_inverts_its_target(ballistic_dataset):
    """Feeding the true normalised acceleration reproduces the true next position (no noise)."""
    model = learned.get("gns").from_dataset(describe(ballistic_dataset), **SMALL_GNS)
    batch = _batch(ballistic_dataset, model)
    pos = batch["position"]
    true_acc = pos[6] - 2 * pos[5] + pos[4]
    model.normalised_acceleration = lambda window: (true_acc - model.acc_mean) / model.acc_std
    nxt = model.predict_next({**batch, "position": pos[:6]})["position"]
    torch.testing.assert_close(nxt, pos[6], rtol=0, atol=1e-6)


@pytest.mark.parametrize("world_radius", [None, 0.05])
def test_meshgraphnets_shapes_gradients(mesh_dataset, world_radius):
    model = learned.get("meshgraphnets").from_dataset(describe(mesh_dataset), world_radius=world_radius, **SMALL_MGN)
    batch = _batch(mesh_dataset, model)
    assert batch["cells"].shape == (36, 3)  # two 18-triangle sheets, second shifted by 16 nodes
    loss, _ = model.training_step(batch, generator=torch.Generator().manual_seed(0))
    loss.backward()
    assert all(p.grad is not None and torch.isfinite(p.grad).all() for p in model.parameters())
    assert model.predict_next({**batch, "position": batch["position"][:2]})["position"].shape == (32, 2)


def test_meshgraphnets_targets_by_node_type_invert(mesh_dataset):
    """Node type 0 predicts acceleration, type 1 velocity; exact targets give the exact next frame."""
    model = learned.get("meshgraphnets").from_dataset(describe(mesh_dataset), target="acceleration",
                                                      target_by_type={1: "velocity"}, **SMALL_MGN)
    batch = _batch(mesh_dataset, model)
    window = {**batch, "position": batch["position"][:2]}
    exact = model._targets(window, batch["position"][2])
    model.network_output = lambda w: exact
    torch.testing.assert_close(model.predict_next(window)["position"], batch["position"][2], rtol=0, atol=1e-6)
    assert model.is_velocity.tolist()[:2] == [0.0, 1.0]
    with pytest.raises(InputError, match="target"):
        learned.create("meshgraphnets", dim=2, target="position")


def test_meshgraphnets_needs_cells(ballistic_dataset):
    from simengine.errors import DatasetError

    with pytest.raises(DatasetError, match="cells"):
        learned.get("meshgraphnets").from_dataset(describe(ballistic_dataset), **SMALL_MGN)


def test_gns_conditions_on_metadata_parameters(ballistic_dataset):
    """Material parameters from trajectory metadata become standardised node features."""
    info = describe(ballistic_dataset)
    model = learned.get("gns").from_dataset(info, metadata_features=["restitution", "gravity"], **SMALL_GNS)
    assert model.config["material_features"] == 2 and "material_params" in model.data_keys(info.keys)
    ds = WindowDataset(load_split(ballistic_dataset, "train"), model.window_frames(),
                       model.data_keys(info.keys), metadata_paths=model.metadata_paths)
    batch = collate([ds[0], ds[40]])
    torch.testing.assert_close(batch["material_params"][0], torch.tensor([0.9, -4e-4]))
    loss, _ = model.training_step(batch)
    loss.backward()
    assert model.embedding.weight.grad is not None and int(model.material_norm.calls) == 1
