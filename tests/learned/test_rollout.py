"""learned.rollout.rollout_split: the device argument."""
import numpy as np
import torch

import learned
from learned.data import describe
from learned.rollout import rollout_split

TINY = dict(latent=16, message_passing_steps=1, graph_backend="torch")


def test_rollout_split_on_a_given_device_matches_the_default(ballistic_dataset, tmp_path):
    torch.manual_seed(0)
    model = learned.get("gns").from_dataset(describe(ballistic_dataset, "train"), **TINY)
    default = rollout_split(model, ballistic_dataset, "test", steps=3, progress=False)
    moved = rollout_split(model, ballistic_dataset, "test", str(tmp_path / "out"), steps=3, progress=False,
                          device="cpu")
    assert next(model.parameters()).device.type == "cpu"
    assert len(moved) == len(default) and (tmp_path / "out" / "test.h5").exists()
    for a, b in zip(default, moved):
        np.testing.assert_array_equal(a.position, b.position)
        assert a.position.shape[0] == model.input_frames + 3
