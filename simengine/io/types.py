"""Particle types stored in `particle_type` (N,).

0-3 are LagrangeBench's own ids, so its datasets and ours share one meaning; simengine adds
material kinds after them. Kinematic particles (walls) are set from ground truth by learned models.
"""
from enum import IntEnum


class ParticleType(IntEnum):
    FLUID = 0
    SOLID_WALL = 1
    MOVING_WALL = 2
    RIGID_BODY = 3
    ELASTIC = 4
    SAND = 5
    PLASTICINE = 6
    SNOW = 7
    NON_NEWTONIAN = 8
    STAR = 9
    SMBH = 10
    ATOM = 11
    ROPE = 12
    CLOTH = 13
    PLUSH = 14
    PINNED = 15  # a deformable's particle fixed in space
    PAD = -1


KINEMATIC_TYPES = (ParticleType.SOLID_WALL, ParticleType.MOVING_WALL, ParticleType.PINNED)
