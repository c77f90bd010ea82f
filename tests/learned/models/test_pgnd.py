"""PGND: shapes and gradients, the grid's wall and gripper conditions with a zeroed network, errors, a
one-episode overfit and `simengine train pgnd` / rollout / compare on a short generated rope set."""
import math

import numpy as np
import pytest
import torch

from learned.models.pgnd import PGND, bspline_stencil, grid_nodes
from learned.nn.grippers import quat_to_matrix
from learned.testing import cli_train_rollout_compare, overfit
from simengine.cli import main as cli
from simengine.errors import DatasetError, InputError

pytestmark = pytest.mark.usefixtures("one_torch_thread")

H = 0.02


def make_model(**config):
    torch.manual_seed(0)
    return PGND(**{"grid_spacing": H, "attach_radius": 0.03, "grippers": 1, "latent": 16, "pointnet_width": 16,
                   "planes": [[[0.0, 1.0, 0.0], 0.0]], "friction": 0.0, "train_steps": 2, **config})


def zero_network(model, bias=(0.0, 0.0, 0.0)):
    last = model.decoder[-1]
    with torch.no_grad():
        last.weight.zero_()
        last.bias.copy_(torch.tensor(bias))


def quat_about_y(angle):
    return [0.0, math.sin(angle / 2), 0.0, math.cos(angle / 2)]


def window(x, grip_now, grip_next, frames=4):
    """A window of ``frames`` identical frames at ``x`` (N, 3); action (1, 2, 1, 8) holding the gripper's
    pose at t and t+1 (the shifted layout `predict_next` reads)."""
    action = torch.tensor([[grip_now, grip_next]], dtype=torch.float32)[:, :, None, :]
    return {"position": x[None].repeat(frames, 1, 1), "particle_type": torch.zeros(len(x), dtype=torch.long),
            "action": action}


def test_stencil_weights_and_node_packing():
    x = torch.rand(50, 3) * 0.3 - 0.1
    nodes, weights = bspline_stencil(x, H)
    assert nodes.shape == (50, 27, 3) and weights.shape == (50, 27)
    assert torch.allclose(weights.sum(1), torch.ones(50), atol=1e-6)          # partition of unity
    # linear reproduction: Σ w_i x_i = x for quadratic B-splines
    assert torch.allclose((weights[..., None] * nodes.to(x.dtype) * H).sum(1), x, atol=1e-6)
    batch = torch.randint(0, 3, (50,))
    rows, inverse = grid_nodes(nodes, batch)
    reference = torch.cat([batch[:, None, None].expand(-1, 27, 1), nodes], -1).reshape(-1, 4)
    assert torch.equal(rows[inverse], reference)
    assert len(rows) == len(torch.unique(reference, dim=0))


def test_shapes_and_gradients():
    model = make_model()
    x = torch.rand(30, 3) * 0.2 + torch.tensor([0.0, 0.05, 0.0])
    w = window(x, [0.5, 0.5, 0.5, 0, 0, 0, 1, 1], [0.5, 0.51, 0.5, 0, 0, 0, 1, 1])
    w["position"] = w["position"] + 1e-3 * torch.randn_like(w["position"])
    out = model.predict_next(w)["position"]
    assert out.shape == (30, 3) and torch.isfinite(out).all()
    out.square().sum().backward()
    for name, p in model.named_parameters():
        assert p.grad is not None and torch.isfinite(p.grad).all(), name
    assert model.decoder[-1].weight.grad.abs().sum() > 0


def test_zero_network_closed_gripper_moves_attached_particles_rigidly():
    model = make_model()
    zero_network(model)
    p0 = torch.tensor([0.0, 0.3, 0.0])
    near = p0 + torch.tensor([[0.01, 0.0, 0.0], [0.0, -0.015, 0.005], [0.0, 0.0, 0.02]])
    far = torch.tensor([[0.5, 0.3, 0.5], [-0.4, 0.2, 0.1]])
    x = torch.cat([near, far])
    p1, angle = p0 + torch.tensor([0.02, 0.01, -0.005]), 0.3
    w = window(x, [*p0.tolist(), *quat_about_y(0.0), 1.0], [*p1.tolist(), *quat_about_y(angle), 1.0])
    out = model.predict_next(w)["position"]
    rotation = quat_to_matrix(torch.tensor(quat_about_y(angle)))
    expected = (near - p0) @ rotation.T + p1
    assert torch.allclose(out[:3], expected, atol=1e-6)
    assert torch.allclose(out[3:], far, atol=1e-7)                            # zero grid velocity elsewhere
    # an open gripper holds nothing
    w_open = window(x, [*p0.tolist(), *quat_about_y(0.0), 0.0], [*p1.tolist(), *quat_about_y(angle), 0.0])
    assert torch.allclose(model.predict_next(w_open)["position"], x, atol=1e-7)


def test_walls_block_inward_normal_velocity():
    model = make_model()
    zero_network(model, bias=(0.0, -1.0, 0.5))                                 # grid velocity (0, -h, h/2) per frame
    x = torch.tensor([[0.1, 0.005, 0.1], [0.2, 0.02, 0.0], [0.3, 0.6, 0.2]])
    far = [5.0, 5.0, 5.0, 0, 0, 0, 1, 0.0]
    out = model.predict_next(window(x, far, far))["position"]
    # near the floor (every stencil node within wall_nodes·h of it) the downward component is removed,
    # the tangential one kept (friction 0); far above, the particle moves with the network's velocity
    assert torch.allclose(out[:2] - x[:2], torch.tensor([0.0, 0.0, 0.5 * H]).expand(2, 3), atol=1e-7)
    assert torch.allclose(out[2] - x[2], torch.tensor([0.0, -H, 0.5 * H]), atol=1e-7)
    # Coulomb friction: tangential speed reduced by mu·|v_n|, here to zero
    sticky = make_model(friction=1.0)
    zero_network(sticky, bias=(0.0, -1.0, 0.5))
    assert torch.allclose(sticky.predict_next(window(x, far, far))["position"][:2], x[:2], atol=1e-7)


def test_errors_name_what_is_wrong():
    with pytest.raises(InputError, match="grid_spacing"):
        make_model(grid_spacing=0.0)
    with pytest.raises(InputError, match="grippers"):
        PGND(grid_spacing=H, attach_radius=0.03)
    model = make_model()
    x = torch.rand(5, 3)
    w = window(x, [0] * 8, [0] * 8)
    w["action"] = w["action"].repeat(1, 1, 2, 1)                               # two grippers, trained with one
    with pytest.raises(InputError, match="2 gripper.*trained with 1"):
        model.predict_next(w)
    with pytest.raises(DatasetError, match="action"):
        model.training_step({"position": torch.rand(6, 5, 3), "particle_type": torch.zeros(5, dtype=torch.long)})


def test_overfits_one_episode(rope_dataset):
    from learned.data.source import describe
    from learned.data.windows import WindowDataset, collate
    from simengine.io import load_split

    train = load_split(rope_dataset, "train")[:1]
    torch.manual_seed(0)
    model = PGND.from_dataset(describe(rope_dataset, "train", train), latent=32, pointnet_width=32)
    windows = WindowDataset(train, model.window_frames(), ("action",))
    batch = collate([windows[i] for i in range(8, len(windows), 6)])
    losses = overfit(model, batch, steps=120)
    assert losses[-1] < 0.1 * losses[0]


def test_train_rollout_compare_through_the_cli(rope_dataset, tmp_path):
    metrics = cli_train_rollout_compare("pgnd", rope_dataset, str(tmp_path / "run"),
                                        sets=("train.batch_size=2", "model.latent=16", "model.pointnet_width=16"))
    assert np.isfinite(metrics["summary"]["prediction"]["mse"]["all"])
    # a training window longer than the trajectories is refused (exit 1, one line)
    assert cli(["train", "pgnd", "--data", rope_dataset, "--out", str(tmp_path / "bad"), "--steps", "1", "--quiet",
                "--set", "model.train_steps=1000"]) == 1
