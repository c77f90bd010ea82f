"""GS-Dynamics: control-particle subset, shapes and gradients, exact equivariance about the vertical, LBS of
rigidly moving control particles, errors, a one-episode overfit and the CLI train/rollout/compare."""
import math

import numpy as np
import pytest
import torch

from learned.models.gs_dynamics import GSDynamics, control_subset, yaw_matrix
from learned.testing import cli_train_rollout_compare, overfit
from simengine.errors import DatasetError, InputError

pytestmark = pytest.mark.usefixtures("one_torch_thread")


def make_model(**config):
    torch.manual_seed(0)
    return GSDynamics(**{"grippers": 1, "control_points": 12, "latent": 16, "edge_radius": 0.1,
                         "tool_radius": 0.1, "train_steps": 2, **config}).double()


def scene(n=30, seed=0):
    """A random window: positions (3, n, 3) drifting, rest (n, 3), action (1, 3, 1, 8) (shifted layout)."""
    g = torch.Generator().manual_seed(seed)
    rest = torch.rand(n, 3, generator=g, dtype=torch.float64) * torch.tensor([0.4, 0.05, 0.4])
    drift = 0.002 * torch.randn(n, 3, generator=g, dtype=torch.float64)
    position = torch.stack([rest + k * drift for k in range(3)])
    grip = torch.tensor([0.1, 0.05, 0.1, 0, 0, 0, 1, 1], dtype=torch.float64)
    action = torch.stack([grip, grip + torch.tensor([0.01, 0.004, -0.003, 0, 0, 0, 0, 0], dtype=torch.float64),
                          grip + torch.tensor([0.02, 0.008, -0.006, 0, 0, 0, 0, 0], dtype=torch.float64)])
    return {"position": position, "initial_position": rest, "particle_type": torch.zeros(n, dtype=torch.long),
            "action": action[None, :, None, :]}


def rotate(window, angle):
    q = yaw_matrix(torch.tensor([angle], dtype=torch.float64))[0]
    a = window["action"].clone()
    a[..., :3] = a[..., :3] @ q.T
    half = torch.tensor([0.0, math.sin(angle / 2), 0.0, math.cos(angle / 2)], dtype=torch.float64)
    x, y, z, w = half
    bx, by, bz, bw = a[..., 3:7].unbind(-1)
    a[..., 3:7] = torch.stack([w * bx + x * bw + y * bz - z * by, w * by - x * bz + y * bw + z * bx,
                               w * bz + x * by - y * bx + z * bw, w * bw - x * bx - y * by - z * bz], -1)
    return {**window, "position": window["position"] @ q.T, "initial_position": window["initial_position"] @ q.T,
            "action": a}, q


def test_control_subset_is_farthest_first_and_thinned():
    rest = torch.rand(200, 3, generator=torch.Generator().manual_seed(1))
    index = control_subset(rest, 50)
    assert len(index) == 50 and len(set(index.tolist())) == 50
    assert torch.equal(index, control_subset(rest, 50))                    # deterministic
    thinned = control_subset(rest, 50, radius=0.3)
    assert 1 < len(thinned) < 50 and torch.equal(thinned, index[:len(thinned)])
    d = torch.cdist(rest[thinned], rest[thinned]) + torch.eye(len(thinned)) * 9
    assert float(d.min()) >= 0.3


def test_shapes_and_gradients():
    model = make_model()
    w = scene()
    out = model.predict_next(w)["position"]
    assert out.shape == (30, 3) and torch.isfinite(out).all()
    batch = {**w, "position": torch.cat([w["position"], w["position"][-1:] + 0.001, w["position"][-1:] + 0.002]),
             "action": torch.cat([w["action"], w["action"][:, -1:], w["action"][:, -1:]], 1)}
    loss, logs = model.training_step(batch)
    loss.backward()
    for name, p in model.named_parameters():
        assert p.grad is not None and torch.isfinite(p.grad).all(), name
    assert logs["weight"] == 12 * 2


@pytest.mark.parametrize("angle", [0.7, 2.5, -1.9])
def test_prediction_rotates_with_the_scene_about_the_vertical(angle):
    model = make_model()
    w = scene(seed=3)
    out = model.predict_next(w)["position"]
    turned, q = rotate(w, angle)
    assert torch.allclose(model.predict_next(turned)["position"], out @ q.T, atol=1e-9)
    # not equivariant to a tilt of the vertical (gravity's direction is physics, not a symmetry)
    tilt = torch.tensor([[1.0, 0, 0], [0, math.cos(0.5), -math.sin(0.5)], [0, math.sin(0.5), math.cos(0.5)]],
                        dtype=torch.float64)
    tilted = {**w, "position": w["position"] @ tilt.T, "initial_position": w["initial_position"] @ tilt.T}
    assert not torch.allclose(model.predict_next(tilted)["position"], out @ tilt.T, atol=1e-4)


def test_rigidly_moving_control_particles_move_every_particle_exactly(monkeypatch):
    model = make_model()
    w = scene(n=40, seed=5)
    q = yaw_matrix(torch.tensor([0.4], dtype=torch.float64))[0] @ torch.tensor(
        [[1.0, 0, 0], [0, math.cos(0.3), -math.sin(0.3)], [0, math.sin(0.3), math.cos(0.3)]], dtype=torch.float64)
    t = torch.tensor([0.05, -0.02, 0.1], dtype=torch.float64)
    monkeypatch.setattr(model, "step_controls", lambda history, rest, batch, action: rest @ q.T + t)
    out = model.predict_next(w)["position"]
    assert torch.allclose(out, w["initial_position"] @ q.T + t, atol=1e-6)


def test_errors_name_what_is_wrong():
    with pytest.raises(InputError, match="control_points"):
        GSDynamics(grippers=1, control_points=1)
    with pytest.raises(InputError, match="fewer than the 50 control points"):
        make_model(control_points=50).predict_next(scene())
    w = scene()
    w["action"] = w["action"].repeat(1, 1, 2, 1)
    with pytest.raises(InputError, match="2 gripper.*trained with 1"):
        make_model().predict_next(w)
    with pytest.raises(DatasetError, match="action"):
        make_model().training_step({"position": torch.rand(5, 30, 3), "initial_position": torch.rand(30, 3),
                                    "particle_type": torch.zeros(30, dtype=torch.long)})


def test_overfits_one_episode(rope_dataset):
    from learned.data.source import describe
    from learned.data.windows import WindowDataset, collate
    from simengine.io import load_split

    train = load_split(rope_dataset, "train")[:1]
    torch.manual_seed(0)
    model = GSDynamics.from_dataset(describe(rope_dataset, "train", train), latent=32, control_points=20,
                                    noise_std=0.0)
    windows = WindowDataset(train, model.window_frames(), ("action", "initial_position"))
    batch = collate([windows[i] for i in range(8, len(windows), 6)])
    losses = overfit(model, batch, steps=100)
    assert losses[-1] < 0.1 * losses[0]


def test_train_rollout_compare_through_the_cli(rope_dataset, tmp_path):
    metrics = cli_train_rollout_compare("gs_dynamics", rope_dataset, str(tmp_path / "run"),
                                        sets=("train.batch_size=2", "model.latent=16", "model.control_points=20"))
    assert np.isfinite(metrics["summary"]["prediction"]["mse"]["all"])
