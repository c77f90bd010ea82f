"""`simengine.materials` is `simengine.mpm.materials` (the MPM materials), kept under its short name."""
import sys

from simengine.mpm import materials as _materials

sys.modules[__name__] = _materials
