"""Ropes, cloth and plush toys as spring-mass systems, handled by grippers (Warp; XPBD or symplectic Euler).

Public API::

    from simengine import deformables
    scene = deformables.Scene(dt=1 / 60, substeps=100, damping=0.5)
    rope = scene.add_rope(start, end, segments=40, mass=0.05, stiffness=2e3, bend_stiffness=2.0, radius=0.006)
    scene.add_gripper(radius=0.03, keyframes=[(t, position, quaternion_xyzw, closed), ...])
    traj = scene.run(duration=2.0, record_every=2)
    model, state = scene.build()          # the model on the simulator contract (`simengine.simulator`)
"""
from simengine.deformables.gripper import Gripper, GripperControl  # noqa: F401
from simengine.deformables.model import DeformablesModel, DeformableState  # noqa: F401
from simengine.deformables.scene import Body, Scene  # noqa: F401

__all__ = ["Body", "DeformableState", "DeformablesModel", "Gripper", "GripperControl", "Scene"]
