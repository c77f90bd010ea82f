"""MLS-MPM: the Warp solver, its state, colliders and (in `simengine.mpm.differentiable`) torch autograd."""
from simengine.mpm.colliders import Collider  # noqa: F401
from simengine.mpm.solver import MPMSolver  # noqa: F401
from simengine.mpm.state import MPMGrid, MPMParticles, MPMState  # noqa: F401
