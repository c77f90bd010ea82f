"""Dataset generation from scene scripts: parallel, deterministic given a seed, resumable.

    from simengine.generate import generate_dataset
    meta = generate_dataset("scenes/sand_2d.py", "data/sand", {"train": 20, "valid": 4, "test": 4},
                            workers=2, seed=0)
"""
from simengine.generate.job import SPLIT_INDEX, generate_dataset  # noqa: F401
from simengine.generate.script import DEVICE_ENV, THREADS_ENV, Task, load_scene_script, run_task  # noqa: F401
