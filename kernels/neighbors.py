"""Fixed-radius neighbour search on Warp's `HashGrid`, periodic-aware.

Cell lists (Hockney & Eastwood, *Computer Simulation Using Particles*, 1988) as Warp's hash grid
implements them: a query visits the points in the cells overlapping the box of half-width r around
the query point; the kernels below keep only those within distance r. Periodic axes are handled by
also querying the shifted images p ± L of a point lying within r of a face, which finds every
neighbour exactly once as long as each periodic length L exceeds 2r (checked on the Python side).

Two passes make a variable-length edge list without atomics: `count_radius_neighbors` writes each
receiver's neighbour count, the caller turns the counts into offsets (exclusive prefix sum), and
`fill_radius_neighbors` writes the senders of receiver i at ``offsets[i] ...``.
2D points are passed as vec3 with z = 0 and a zero ``periodic`` flag for z; ``groups`` (the sample
of a batch, all zeros for one graph) keeps graphs of a batch apart.
"""
import warp as wp


@wp.func
def image_is_needed(p: wp.vec3, lower: wp.vec3, length: wp.vec3, periodic: wp.vec3i,
                    radius: float, sx: int, sy: int, sz: int) -> bool:
    """Whether the image p + (sx, sy, sz)·L can hold a neighbour of p (always true for the identity)."""
    shifts = wp.vec3i(sx, sy, sz)
    for d in range(3):
        s = shifts[d]
        if s != 0:
            if periodic[d] == 0:
                return False
            rel = p[d] - lower[d]
            # p near the upper face sees the neighbours across it at p - L, and vice versa.
            if s < 0 and rel < length[d] - radius:
                return False
            if s > 0 and rel > radius:
                return False
    return True


@wp.func
def visit_neighbors(grid: wp.uint64, points: wp.array(dtype=wp.vec3), groups: wp.array(dtype=wp.int32),
                    lower: wp.vec3, length: wp.vec3, periodic: wp.vec3i,
                    radius: float, include_self: int, i: int,
                    write: int, offset: int, senders: wp.array(dtype=wp.int32)) -> int:
    """Count (and, when ``write``, store from ``offset``) the points within ``radius`` of point i."""
    p = points[i]
    n = int(0)
    for sx in range(-1, 2):
        for sy in range(-1, 2):
            for sz in range(-1, 2):
                if image_is_needed(p, lower, length, periodic, radius, sx, sy, sz):
                    q = p + wp.cw_mul(wp.vec3(float(sx), float(sy), float(sz)), length)
                    query = wp.hash_grid_query(grid, q, radius, groups[i])
                    j = int(0)
                    while wp.hash_grid_query_next(query, j):
                        if j != i or include_self != 0:
                            if wp.length(q - points[j]) <= radius:
                                if write != 0:
                                    senders[offset + n] = j
                                n += 1
    return n


@wp.kernel
def count_radius_neighbors(grid: wp.uint64, points: wp.array(dtype=wp.vec3), groups: wp.array(dtype=wp.int32),
                           lower: wp.vec3, length: wp.vec3, periodic: wp.vec3i,
                           radius: float, include_self: int, counts: wp.array(dtype=wp.int32)):
    i = wp.tid()
    counts[i] = visit_neighbors(grid, points, groups, lower, length, periodic, radius,
                                include_self, i, 0, 0, counts)


@wp.kernel
def fill_radius_neighbors(grid: wp.uint64, points: wp.array(dtype=wp.vec3), groups: wp.array(dtype=wp.int32),
                          lower: wp.vec3, length: wp.vec3, periodic: wp.vec3i,
                          radius: float, include_self: int, offsets: wp.array(dtype=wp.int32),
                          senders: wp.array(dtype=wp.int32)):
    i = wp.tid()
    visit_neighbors(grid, points, groups, lower, length, periodic, radius,
                    include_self, i, 1, offsets[i], senders)
