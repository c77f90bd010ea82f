"""Verlet neighbour lists for periodic (orthorhombic or triclinic) boxes built on a Warp `HashGrid`.

Positions are never wrapped: each atom keeps its continuous (unwrapped) trajectory x_i.  To build the
list, `wrap_positions` maps every atom into the cell, x_i = w_i + H n_i (H's columns are the lattice
vectors, n_i an integer image), and the grid is built over w.  For atom i the grid is queried around
w_i − H m for every image m ∈ {−1, 0, 1}³ whose query sphere can reach the cell (fractional coordinate
within r_list / width of the face), which finds all j with |w_j + H m − w_i| < r_list.  The stored
shift is the lattice vector that turns the *unwrapped* pair into that image,

    shift_ij = H (m + n_i − n_j),   d_ij = x_j + shift_ij − x_i,

so forces need no minimum-image arithmetic and stay exact between rebuilds.  With r_list below half the
smallest perpendicular width each pair appears once (two images differ by at least one width); with
``half`` set it is stored under one of its atoms only (`owns_pair`; Newton's third law halves the work).

Reference: Allen & Tildesley, *Computer Simulation of Liquids* (2nd ed., 2017), §5.3-5.4 (Verlet and
cell lists); Tuckerman, *Statistical Mechanics* (2010), App. B (triclinic minimum image).
"""
import functools
from typing import Any

import warp as wp


@wp.func
def image_reaches(m: int, s: Any, reach: Any):
    """Whether image offset m along one axis can hold neighbours of an atom at fractional s."""
    return m == 0 or (m == 1 and s >= type(s)(1.0) - reach) or (m == -1 and s <= reach)


@wp.func
def owns_pair(i: int, j: int):
    """Which side stores pair (i, j) in a half list: the lower index when i + j is even, else the higher
    (each pair exactly once, and every atom owns about half of its pairs, which balances threads)."""
    return (i < j) == ((i + j) % 2 == 0)


@functools.lru_cache(maxsize=None)
def neighbor_kernels(scalar):
    """(wrap_positions, build_neighbors, max_displacement_sq) specialised to ``scalar`` (wp.float32/64)."""
    vec3 = wp.types.vector(3, scalar)
    mat33 = wp.types.matrix((3, 3), scalar)

    @wp.kernel(module="unique", enable_backward=False)
    def wrap_positions(x: wp.array(dtype=vec3), H: mat33, H_inv: mat33, periodic: int,
                       wrapped: wp.array(dtype=vec3), image: wp.array(dtype=wp.vec3i)):
        i = wp.tid()
        if periodic == 0:
            wrapped[i] = x[i]
            image[i] = wp.vec3i(0, 0, 0)
            return
        s = H_inv * x[i]
        n = vec3(wp.floor(s[0]), wp.floor(s[1]), wp.floor(s[2]))
        wrapped[i] = x[i] - H * n
        image[i] = wp.vec3i(int(n[0]), int(n[1]), int(n[2]))

    @wp.kernel(module="unique", enable_backward=False)
    def build_neighbors(start: int, grid: wp.uint64, wrapped: wp.array(dtype=vec3),
                        image: wp.array(dtype=wp.vec3i), molecule: wp.array(dtype=wp.int32),
                        H: mat33, H_inv: mat33, reach: vec3, r_list: scalar, half: int, max_neighbors: int,
                        neighbors: wp.array(dtype=wp.int32), shifts: wp.array(dtype=vec3),
                        counts: wp.array(dtype=wp.int32)):
        i = wp.tid() + start
        wi = wrapped[i]
        s = H_inv * wi
        count = int(0)
        r_list2 = r_list * r_list
        for a in range(-1, 2):
            for b in range(-1, 2):
                for c in range(-1, 2):
                    if image_reaches(a, s[0], reach[0]) and image_reaches(b, s[1], reach[1]) and image_reaches(
                            c, s[2], reach[2]):
                        m = vec3(scalar(float(a)), scalar(float(b)), scalar(float(c)))
                        query_point = wi - H * m
                        query = wp.hash_grid_query(grid, query_point, r_list)
                        j = int(0)
                        while wp.hash_grid_query_next(query, j):
                            d = wrapped[j] - query_point
                            same = j == i and a == 0 and b == 0 and c == 0
                            bonded = molecule[i] >= 0 and molecule[i] == molecule[j]
                            if wp.dot(d, d) < r_list2 and not same and not bonded and (half == 0 or owns_pair(i, j)):
                                if count < max_neighbors:
                                    n_i = image[i]
                                    n_j = image[j]
                                    k = vec3(scalar(float(a + n_i[0] - n_j[0])), scalar(float(b + n_i[1] - n_j[1])),
                                             scalar(float(c + n_i[2] - n_j[2])))
                                    neighbors[i * max_neighbors + count] = j
                                    shifts[i * max_neighbors + count] = H * k
                                count += 1
        counts[i] = count

    @wp.kernel(module="unique", enable_backward=False)
    def max_displacement_sq(x: wp.array(dtype=vec3), reference: wp.array(dtype=vec3),
                            result: wp.array(dtype=scalar)):
        i = wp.tid()
        d = x[i] - reference[i]
        wp.atomic_max(result, 0, wp.dot(d, d))

    return wrap_positions, build_neighbors, max_displacement_sq
