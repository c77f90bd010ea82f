"""Softened field gravity for the whole particle set: the Warp direct sum, on both CPU cores.

Warp's CPU backend runs a kernel on one thread and releases the GIL in ``wp.launch``, so the targets
are split in contiguous slices launched from the shared pool of `simengine.parallel` (each slice writes
its own part of the output: no reduction needed). On CUDA one launch covers all targets.
"""
from __future__ import annotations

import numpy as np

from simengine.errors import InputError
from simengine.parallel import run_parallel, split
from simengine.runtime import default_threads, init_warp

# name -> kernel id in kernels.nbody.gravity
SOFTENING_KERNELS = {"plummer": 0, "cubic_spline": 1}
# Radius (in units of the Plummer-equivalent softening) beyond which each kernel is exactly Newtonian.
NEWTONIAN_BEYOND = {"plummer": float("inf"), "cubic_spline": 2.8}


def softening_kernel_id(name: str) -> int:
    if name not in SOFTENING_KERNELS:
        raise InputError(f"softening_kernel = {name!r} is not one of {sorted(SOFTENING_KERNELS)}")
    return SOFTENING_KERNELS[name]


class FieldGravity:
    """Direct-summation softened accelerations and potentials of N particles (float64)."""

    def __init__(self, G: float, softening: float, kernel: str = "cubic_spline", device: str = "cpu",
                 threads: int | None = None):
        self.wp = init_warp()
        import kernels.nbody.gravity as kg

        self._kg = kg
        self.G, self.eps, self.kind = float(G), float(softening), softening_kernel_id(kernel)
        self.device = device
        self.threads = default_threads(device, threads)
        self._n = -1

    def _upload(self, pos, mass, group, is_bh=None):
        wp, dev = self.wp, self.device
        n = len(mass)
        if n != self._n:
            self._pos = wp.zeros(n, dtype=wp.vec3d, device=dev)
            self._mass = wp.zeros(n, dtype=wp.float64, device=dev)
            self._group = wp.zeros(n, dtype=wp.int32, device=dev)
            self._isbh = wp.zeros(n, dtype=wp.int32, device=dev)
            self._n = n
        self._pos.assign(np.ascontiguousarray(pos, dtype=np.float64))
        self._mass.assign(np.ascontiguousarray(mass, dtype=np.float64))
        self._group.assign(np.ascontiguousarray(group, dtype=np.int32))
        if is_bh is not None:
            self._isbh.assign(np.ascontiguousarray(is_bh, dtype=np.int32))

    def _run(self, kernel, targets, extra_inputs, out_dtype):
        """Launch `kernel` over `targets`, split across the thread pool; returns the numpy output."""
        wp, dev = self.wp, self.device
        targets = np.ascontiguousarray(targets, dtype=np.int32)
        nt = len(targets)
        t_arr = wp.array(targets, dtype=wp.int32, device=dev)
        out = wp.zeros(nt, dtype=out_dtype, device=dev)
        if nt == 0:
            return out.numpy()

        def launch(a, b, _t):
            wp.launch(kernel, dim=b - a, device=dev,
                      inputs=[self._pos, self._mass, *extra_inputs[:1], t_arr[a:b], *extra_inputs[1:], out[a:b]])

        run_parallel(launch, split(nt, self.threads), kernels=[kernel], device=dev)
        return out.numpy().copy()

    def accelerations(self, pos, mass, group, targets=None) -> np.ndarray:
        """(len(targets), 3) softened accelerations; pairs with group[i] == group[j] >= 0 skipped.

        targets=None: all particles; on the CPU every pair is then evaluated once (third law).
        """
        self._upload(pos, mass, group)
        if targets is None:
            if self.device == "cpu":
                return self._all_pairs()
            targets = np.arange(len(mass))
        wp = self.wp
        return self._run(self._kg.softened_acceleration, targets,
                         [self._group, self.kind, self.eps, self.G], wp.vec3d).reshape(-1, 3)

    def _all_pairs(self) -> np.ndarray:
        """All accelerations from the pair kernel: thread k takes rows [r_k, r_k+1) with equal pair
        counts, r_k = N (1 - sqrt(1 - k/T)), into a private buffer; the buffers are summed."""
        wp, n = self.wp, self._n
        parts = min(self.threads, max(1, n // 64))
        rows = [int(round(n * (1.0 - np.sqrt(1.0 - k / parts)))) for k in range(parts + 1)]
        bufs = [wp.zeros(n, dtype=wp.vec3d, device=self.device) for _ in range(parts)]

        def launch(k, _end, _t):
            wp.launch(self._kg.softened_acceleration_rows, dim=1, device=self.device,
                      inputs=[self._pos, self._mass, self._group, rows[k], rows[k + 1], self.kind, self.eps,
                              self.G, bufs[k]])

        run_parallel(launch, [(k, k + 1) for k in range(parts)], kernels=[self._kg.softened_acceleration_rows],
                     device=self.device)
        return np.sum([b.numpy() for b in bufs], axis=0)

    def potentials(self, pos, mass, is_bh, targets=None) -> np.ndarray:
        """(len(targets),) potential per unit mass: Newtonian for pairs with a black hole, else softened."""
        self._upload(pos, mass, np.full(len(mass), -1), is_bh)
        if targets is None:
            targets = np.arange(len(mass))
        return self._run(self._kg.mixed_potential, targets,
                         [self._isbh, self.kind, self.eps, self.G], self.wp.float64)
