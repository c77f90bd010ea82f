"""The random-walk scene script that the generation tests run (`tests.generate.test_generate.WALK`)."""
import pytest

from tests.generate.test_generate import WALK


@pytest.fixture
def script(tmp_path, monkeypatch):
    """A scene script whose make_scene calls are logged to $WALK_LOG (one line each); $WALK_SLEEP,
    $WALK_FAIL and $WALK_NAN cleared."""
    path = tmp_path / "walk.py"
    path.write_text(WALK)
    monkeypatch.setenv("WALK_LOG", str(tmp_path / "calls.log"))
    for name in ("WALK_SLEEP", "WALK_FAIL", "WALK_NAN"):
        monkeypatch.delenv(name, raising=False)
    return path
