"""The repository's scene scripts, for tests: where they are and a shortened copy of one."""
import os

SCENES = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", "scenes"))


def shortened(folder, scene: str, run: str):
    """Write ``folder/<scene>_short.py``: ``scenes/<scene>.py``'s ``make_scene`` with ``RUN = dict(<run>)``."""
    path = folder / f"{scene}_short.py"
    path.write_text(f"import sys\nsys.path.insert(0, {SCENES!r})\nfrom {scene} import make_scene  # noqa: F401\n"
                    f"RUN = dict({run})\n")
    return path
