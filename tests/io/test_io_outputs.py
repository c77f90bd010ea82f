"""`simengine.io.outputs`: where a command may write, and the commands that go through it (nothing overwritten
that a command did not create; one-line refusals)."""
import hashlib
import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest

from simengine.cli import main
from simengine.errors import InputError
from simengine.io import Trajectory, write_dataset
from simengine.io.outputs import claim_output_dir, claim_output_file, detect_kind


def tree_digest(root) -> dict:
    """{relative path: sha256} of every file below ``root``."""
    out = {}
    for folder, _, files in os.walk(root):
        for name in files:
            path = os.path.join(folder, name)
            out[os.path.relpath(path, root)] = hashlib.sha256(open(path, "rb").read()).hexdigest()
    return out


@pytest.fixture
def dataset(tmp_path):
    rng = np.random.default_rng(0)
    trajs = [Trajectory(rng.random((6, 5, 2)), np.zeros(5), dt=0.1, metadata={"solver": "toy"}) for _ in range(2)]
    root = tmp_path / "data"
    write_dataset(root, {"train": trajs[:1], "test": trajs[1:]}, {"bounds": [[0, 1], [0, 1]]})
    return root


def test_claim_rules(tmp_path, dataset):
    out = claim_output_dir(tmp_path / "new", "rollout", command="x")
    assert os.path.isdir(out) and detect_kind(out) == (None, [])
    (tmp_path / "new" / "metadata.json").write_text('{"simengine_output": "rollout"}')
    assert detect_kind(out)[0] == "rollout" and claim_output_dir(out, "rollout") == out  # its own kind: fine
    with pytest.raises(InputError, match=r"holds a rollout .*x writes a compare"):
        claim_output_dir(out, "compare", command="x")
    claim_output_dir(tmp_path / "later", "compare", create=False)  # checked, not made
    assert not (tmp_path / "later").exists()
    with pytest.raises(InputError, match=r"holds a dataset \(metadata.json, test.h5, train.h5\)"):
        claim_output_dir(dataset, "rollout")
    with pytest.raises(InputError, match=r"is inside .* which holds a dataset"):
        claim_output_dir(dataset / "compare", "compare")
    foreign = tmp_path / "foreign"
    foreign.mkdir()
    (foreign / "report.html").write_text("mine")
    with pytest.raises(InputError, match=r"already has report.html, which simengine did not write; pass --overwrite"):
        claim_output_dir(foreign, "compare", ["report.html", "metrics.json"])
    assert claim_output_dir(foreign, "compare", ["report.html"], overwrite=True) == str(foreign)
    (tmp_path / "file.txt").write_text("x")
    with pytest.raises(InputError, match=r"--out .*file.txt is an existing file"):
        claim_output_dir(tmp_path / "file.txt", "compare")
    with pytest.raises(InputError, match=r"exists; pass --overwrite"):
        claim_output_file(tmp_path / "file.txt")


def one_line_error(capsys, argv, pattern):
    assert main(argv) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "Traceback" not in err[0], err
    assert err[0].startswith(f"simengine {argv[0]}: error: "), err
    import re

    assert re.search(pattern, err[0]), err[0]


def test_compare_refuses_without_writing(capsys, tmp_path, dataset):
    before = tree_digest(dataset)
    one_line_error(capsys, ["compare", "--pred", str(tmp_path / "nope"), "--truth", str(dataset), "--quiet"],
                   r"--pred .*nope does not exist")
    one_line_error(capsys, ["compare", "--pred", str(dataset), "--truth", str(dataset), "--start", "2",
                            "--out", str(dataset), "--quiet"], r"holds a dataset")
    one_line_error(capsys, ["compare", "--pred", str(dataset), "--truth", str(dataset), "--gifs", "-1"],
                   r"--gifs = -1 is outside the allowed range")
    assert tree_digest(dataset) == before
    broken = tmp_path / "broken"
    broken.mkdir()
    for name in ("test.h5", "train.h5"):
        os.link(dataset / name, broken / name)
    (broken / "metadata.json").write_text('{"dim": 2, "bounds": [[0, 1]]}')  # bounds for one axis of two
    out = tmp_path / "report"
    assert main(["compare", "--pred", str(dataset), "--truth", str(broken), "--start", "2", "--out", str(out),
                 "--quiet"]) == 1
    assert "bounds" in capsys.readouterr().err and not out.exists()  # no report on invalid ground truth


SCRIPTS = {
    "not_a_scene.py": "RUN = {}\ndef make_scene(rng):\n    return 42\n",
    "bad_run_key.py": textwrap.dedent('''
        import numpy as np
        from simengine import Trajectory
        RUN = dict(duration=1.0, frames=3)
        class S:
            def run(self, duration, progress=False):
                return Trajectory(np.zeros((2, 1, 2)), np.zeros(1))
        def make_scene(rng):
            return S()
    '''),
}


def test_run_refuses_bad_scripts_and_outputs_in_one_line(capsys, tmp_path, dataset):
    for name, text in SCRIPTS.items():
        (tmp_path / name).write_text(text)
    one_line_error(capsys, ["run", str(tmp_path / "not_a_scene.py"), "--out", str(tmp_path / "r1")],
                   r"not_a_scene.py: make_scene\(rng\) returned builtins.int \(42\), which has no run")
    one_line_error(capsys, ["run", str(tmp_path / "bad_run_key.py"), "--out", str(tmp_path / "r2")],
                   r"RUN has 'frames', which S.run does not take; allowed: \['duration', 'progress'\]")
    (tmp_path / "taken").write_text("x")
    one_line_error(capsys, ["run", str(tmp_path / "bad_run_key.py"), "--out", str(tmp_path / "taken")],
                   r"is an existing file")
    one_line_error(capsys, ["run", str(tmp_path / "bad_run_key.py"), "--out", str(dataset)], r"holds a dataset")


def test_inspect_into_a_closed_pipe_is_quiet(dataset):
    reader = subprocess.Popen([sys.executable, "-m", "simengine", "inspect", "--json", str(dataset)],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    reader.stdout.close()  # `| head` that has gone away before the output comes
    err = reader.stderr.read().decode()
    reader.wait(timeout=60)
    assert "Traceback" not in err and "BrokenPipe" not in err, err
