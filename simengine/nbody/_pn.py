"""Post-Newtonian switches and a diagnostic evaluation of the PN accelerations (the Warp functions
the regularized integrator uses, launched on plain arrays)."""
from __future__ import annotations

import numpy as np

from simengine.errors import InputError

# order name -> bit of the mask understood by kernels.nbody.pn
PN_BITS = {"1": 1, "2": 2, "2.5": 4, "3": 8, "3.5": 16}
# spin terms (kernels.nbody.spin), switched like the orders above
SPIN_BITS = {"1.5so": 32}


def pn_mask(orders) -> int:
    """Bit mask for a collection of order names, e.g. ("1", "2", "2.5", "1.5so")."""
    bits = {**PN_BITS, **SPIN_BITS}
    mask = 0
    for o in orders:
        if str(o) not in bits:
            raise InputError(f"pn_orders entry {o!r} is not one of {list(bits)}")
        mask |= bits[str(o)]
    return mask


def pn_accelerations(mass, position, velocity, is_smbh, G=1.0, c=1.0, orders=("1",), device="cpu"):
    """PN accelerations (N, 3) of the black holes among N bodies (zero for stars), float64.

    1PN is the N-body Einstein-Infeld-Hoffmann form; 2PN..3.5PN act pairwise (see kernels.nbody.pn).
    The Newtonian part is not included.
    """
    from simengine.runtime import init_warp

    wp = init_warp()
    import kernels.nbody.pn as kp

    m = np.asarray(mass, np.float64)
    x = np.asarray(position, np.float64).reshape(-1, 3)
    v = np.asarray(velocity, np.float64).reshape(-1, 3)
    n = len(m)
    # A star-shaped tree rooted at body 0: edge[k] = x_k - x_0, so x_i - x_j = edge[i] - edge[j].
    parent = np.full(n, 0, np.int32)
    parent[0] = -1
    depth = np.ones(n, np.int32)
    depth[0] = 0
    edge = x - x[0]
    edge[0] = x[0]
    arr = lambda a, t: wp.array(a, dtype=t, device=device)  # noqa: E731
    out = wp.zeros(n, dtype=wp.vec3d, device=device)
    wp.launch(kp.pn_acceleration_kernel, dim=1, device=device, inputs=[
        n, arr(m, wp.float64), arr(np.asarray(is_smbh, np.int32), wp.int32), arr(parent, wp.int32),
        arr(depth, wp.int32), arr(edge, wp.vec3d), arr(v, wp.vec3d), float(G), 1.0 / float(c), pn_mask(orders),
        wp.zeros(n, dtype=wp.float64, device=device), wp.zeros(n, dtype=wp.vec3d, device=device), out])
    return out.numpy().astype(np.float64)


def softened_potential_factor_np(kind: int, r2, eps: float):
    """numpy twin of kernels.nbody.gravity.softened_potential_factor (used for energy bookkeeping)."""
    r = np.sqrt(r2)
    if kind == 0:
        return 1.0 / np.sqrt(r2 + eps * eps)
    h = 2.8 * eps
    u = r / h
    inner = -(-2.8 + u * u * (16.0 / 3.0 + u * u * (6.4 * u - 9.6))) / h
    with np.errstate(divide="ignore"):
        outer = -(-3.2 + 1.0 / (15.0 * u) + u * u * (32.0 / 3.0 + u * (-16.0 + u * (9.6 - 32.0 / 15.0 * u)))) / h
        newton = 1.0 / r
    return np.where(u >= 1.0, newton, np.where(u < 0.5, inner, outer))
