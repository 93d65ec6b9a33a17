"""Compiled (numba) cell-list search for :mod:`liquids.neighbors` on CPU.

The neighbour search is integer bookkeeping with no gradient: a binned loop
that appends each close pair to its row. Expressed as dense XLA array
operations (see :meth:`liquids.neighbors.VerletBuilder.build`) the same
search spends most of its time compacting masks; a compiled loop does it
in a few nanoseconds per candidate pair, like LAMMPS's binned builder. Each
row lists its higher neighbours first, for the host force kernel
(:mod:`liquids._host_force`).

Jitted code calls the search as an XLA FFI handler (:func:`xla_search`,
through :mod:`liquids._ffi`): no Python and no copy of the list, where
``jax.pure_callback`` cost 0.12 ms a call plus the copy. Its runs of cells
go to XLA's own thread pool. Numba's own parallel loops are not used: its
OpenMP layer kills a child process forked after a search, and its fallback
layer aborts when two threads launch at once. :func:`search` is the same
search called from NumPy, on one thread (used to size new lists).
"""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
import numba
import numpy as np
from numba import carray
from numba.cpython.unsafe.numbers import trailing_zeros

from liquids import _ffi


@numba.njit(inline="always")
def _gather(m0, m1, k, tx, ty, tz, sorted_, buffers):
    """Copy particles ``m0 <= m < m1``, shifted by ``t``, to the buffers at ``k``.

    ``sorted_`` is ``(x, y, z, species)`` in cell order, ``buffers`` the
    same plus the candidates' sorted indices.
    """
    xs, ys, zs, ss = sorted_
    bx, by, bz, bs, bm = buffers
    for m in range(m0, m1):
        bx[k] = xs[m] + tx
        by[k] = ys[m] + ty
        bz[k] = zs[m] + tz
        bs[k] = ss[m]
        bm[k] = m
        k += 1
    return k


@numba.njit(inline="always")
def _periodic(g, cells, side):
    """Cell ``g`` (one stencil reach outside at most) wrapped into the box,
    and the shift that brings its particles next to the home cell."""
    if g < 0:
        return g + cells, -side
    if g >= cells:
        return g - cells, side
    return g, np.float32(0.0)


@numba.njit(inline="always")
def _gather_row(lo, hi, base, k, ty, tz, row, sorted_, buffers):
    """Gather cells ``lo..hi`` of the x row starting at flat cell ``base``.

    ``row`` is ``(start, cells along x, box length along x)``. ``lo`` may be
    below 0 and ``hi`` past the row: those cells wrap to the other end of
    the row, shifted by one box length.
    """
    start, cx, lx = row
    if lo < 0:
        m0, m1 = start[base + lo + cx], start[base + cx]
        k = _gather(m0, m1, k, -lx, ty, tz, sorted_, buffers)
        lo = 0
    if hi >= cx:
        m0, m1 = start[base], start[base + hi - cx + 1]
        k = _gather(m0, m1, k, lx, ty, tz, sorted_, buffers)
        hi = cx - 1
    zero = np.float32(0.0)
    return _gather(
        start[base + lo], start[base + hi + 1], k, zero, ty, tz, sorted_, buffers
    )


@numba.njit(inline="always")
def _append(keep, words, k, cand, p, order, out, capacity, n):
    """Write the kept candidates (but ``p`` itself) to ``out``; return their count.

    The row is written from both ends: neighbours ``j > i`` (``i = order[p]``)
    from the front, ``j < i`` from the back, padding with ``n`` in between.
    Readers of a dense list do not depend on the order; the host force kernel
    (:mod:`liquids._host_force`) reads only the front, so it takes each pair
    once, from the row of its lower index, without testing every slot.

    ``keep`` holds one byte per candidate; read as 64-bit words, an all-false
    run of eight candidates costs one test, and each kept one is found from
    the word's trailing zero count (one instruction) instead of testing all;
    this cut the search's time by 18 % against finding the lowest bit by a
    de Bruijn multiplication (36 -> 29.5 ms at N = 32000).
    """
    for t in range(k, (k + 7) // 8 * 8):
        keep[t] = False
    i = order[p]
    front, back = 0, capacity  # out[:front] and out[back:] are written
    count = 0
    for q in range((k + 7) // 8):
        w = words[q]
        while w:
            byte = trailing_zeros(w) >> 3  # the first kept candidate
            w &= ~(np.uint64(0xFF) << np.uint64(8 * byte))
            t = 8 * q + byte
            m = cand[t]
            if m != p:
                if count < capacity:
                    j = order[m]
                    up = j > i
                    back -= 1 - up
                    out[front if up else back] = j
                    front += up
                count += 1
    for q in range(front, back):
        out[q] = n
    return count


@numba.njit(cache=True, nogil=True)
def _bin(x, y, z, species, box, cells):  # pragma: no cover
    """Sort the particles by cell (a counting sort).

    Returns ``(start [cells + 1], order [N], (x, y, z, species) sorted)``:
    cell ``c`` holds sorted particles ``start[c] <= m < start[c + 1]``, and
    sorted particle ``m`` is particle ``order[m]``.
    """
    n = x.shape[0]
    cx, cy, cz = cells[0], cells[1], cells[2]
    total = cx * cy * cz
    flat = np.empty(n, np.int64)
    for i in range(n):
        a = min(max(int(np.floor(x[i] / box[0] * cx)), 0), cx - 1)
        b = min(max(int(np.floor(y[i] / box[1] * cy)), 0), cy - 1)
        c = min(max(int(np.floor(z[i] / box[2] * cz)), 0), cz - 1)
        flat[i] = a + cx * (b + cy * c)
    start = np.zeros(total + 1, np.int64)
    for i in range(n):
        start[flat[i] + 1] += 1
    for c in range(total):
        start[c + 1] += start[c]
    fill = start[:-1].copy()
    order = np.empty(n, np.int64)
    for i in range(n):
        order[fill[flat[i]]] = i
        fill[flat[i]] += 1
    xs = np.empty(n, np.float32)
    ys = np.empty(n, np.float32)
    zs = np.empty(n, np.float32)
    ss = np.empty(n, np.float32)
    for p in range(n):
        xs[p] = x[order[p]]
        ys[p] = y[order[p]]
        zs[p] = z[order[p]]
        ss[p] = species[order[p]]
    return start, order, (xs, ys, zs, ss)


@numba.njit(cache=True, nogil=True)
def _cells(
    c0, c1, start, order, sorted_, box, cells, extent, r2, capacity, idx
):  # pragma: no cover
    """Write the rows of the members of cells ``c0 <= c < c1`` into ``idx``;
    return their largest row count, which may exceed ``capacity`` (the pairs
    past it are then not stored). Rows are padded with N.

    ``start``, ``order`` and the sorted coordinates come from :func:`_bin`
    (float32 in ``[0, box)``; 2D systems pass zeros for z and one cell along
    it), ``r2`` is the ``[2, 2]`` float32 squared list radii. ``cells`` are
    the cells per axis; ``extent[|oy|, |oz|]`` is how many cells either side
    along x the stencil row at offset ``(oy, oz)`` spans (-1: none), so rows
    whose cells are all out of range are skipped; its shape sets the y and z
    reach. The stencil must fit in the box (``2 reach + 1 <= cells``); every
    candidate is then one image, shifted here, and no rounding is needed.

    For each cell the candidates of its stencil are copied once into
    contiguous buffers (this call's own, so calls on disjoint cells can run
    at once), then every member's distances to them are one branch-free
    loop, and the kept ones are appended.
    """
    n = order.shape[0]
    cx, cy, cz = cells[0], cells[1], cells[2]
    sy, sz = extent.shape[0] - 1, extent.shape[1] - 1
    lx, ly, lz = np.float32(box[0]), np.float32(box[1]), np.float32(box[2])
    xs, ys, zs, ss = sorted_
    bx = np.empty(n, np.float32)  # a cell's candidates are distinct particles
    by = np.empty(n, np.float32)
    bz = np.empty(n, np.float32)
    bs = np.empty(n, np.float32)
    bm = np.empty(n, np.int64)
    buffers = (bx, by, bz, bs, bm)
    keep = np.zeros((n // 8 + 2) * 8, np.bool_)
    words = keep.view(np.uint64)  # eight candidates' flags per word
    row = (start, cx, lx)
    most = 0
    for c in range(c0, c1):
        p0, p1 = start[c], start[c + 1]
        if p0 == p1:
            continue
        hx, hy, hz = c % cx, (c // cx) % cy, c // (cx * cy)
        k = 0
        for oz in range(-sz, sz + 1):
            gz, tz = _periodic(hz + oz, cz, lz)
            for oy in range(-sy, sy + 1):
                ext = extent[abs(oy), abs(oz)]
                if ext >= 0:
                    gy, ty = _periodic(hy + oy, cy, ly)
                    base = cx * (gy + cy * gz)
                    k = _gather_row(
                        hx - ext, hx + ext, base, k, ty, tz, row, sorted_, buffers
                    )
        for p in range(p0, p1):
            xi, yi, zi = xs[p], ys[p], zs[p]
            si = int(ss[p])
            ra, rb = r2[si, 0], r2[si, 1]
            for t in range(k):
                dx = xi - bx[t]
                dy = yi - by[t]
                dz = zi - bz[t]
                keep[t] = dx * dx + dy * dy + dz * dz < ra + (rb - ra) * bs[t]
            count = _append(keep, words, k, bm, p, order, idx[order[p]], capacity, n)
            most = max(most, count)
    return most


@numba.njit(cache=True, nogil=True)
def _search_all(x, y, z, species, box, radius2, capacity, idx):  # pragma: no cover
    """Like :func:`_cells` over all cells, for boxes too small for a stencil: every
    particle is a candidate of every other, by the minimum image."""
    n = x.shape[0]
    lx, ly, lz = np.float32(box[0]), np.float32(box[1]), np.float32(box[2])
    ix, iy, iz = np.float32(1 / box[0]), np.float32(1 / box[1]), np.float32(1 / box[2])
    ss = species.astype(np.float32)
    r2 = radius2.astype(np.float32)
    keep = np.zeros((n // 8 + 2) * 8, np.bool_)
    words = keep.view(np.uint64)
    everyone = np.arange(n)
    most = 0
    for i in range(n):
        si = species[i]
        ra, rb = r2[si, 0], r2[si, 1]
        for j in range(n):
            dx = x[i] - x[j]
            dy = y[i] - y[j]
            dz = z[i] - z[j]
            dx -= lx * np.floor(dx * ix + np.float32(0.5))
            dy -= ly * np.floor(dy * iy + np.float32(0.5))
            dz -= lz * np.floor(dz * iz + np.float32(0.5))
            keep[j] = dx * dx + dy * dy + dz * dz < ra + (rb - ra) * ss[j]
        count = _append(keep, words, n, everyone, i, everyone, idx[i], capacity, n)
        most = max(most, count)
    return most


def stencil(box, radius: float, cells_per_reach: float):
    """``(cells [3], extent [sy + 1, sz + 1])`` for :func:`_cells`, or None.

    ``box`` holds the ``dim`` (2 or 3) side lengths; a 2D box gets one cell
    and no reach along z. Cells are at least ``radius / cells_per_reach``
    wide; ``extent`` prunes each stencil row to the cells within ``radius``
    of the home cell. None when the stencil would not fit in the box (two
    of its cells would be the same one): use :func:`_search_all`.
    """
    box = np.asarray(box, np.float64)
    cells = np.maximum(np.floor(box * cells_per_reach / radius), 1).astype(np.int64)
    width = box / cells
    reach = np.ceil(radius / width).astype(np.int64)
    if np.any(2 * reach + 1 > cells):
        return None
    pad = 3 - box.size
    cells = np.concatenate([cells, np.ones(pad, np.int64)])
    reach = np.concatenate([reach, np.zeros(pad, np.int64)])
    width = np.concatenate([width, np.zeros(pad)])

    def gap(o, a):  # distance between the home cell and one o cells away
        return max(abs(o) - 1, 0) * width[a]

    extent = np.full((reach[1] + 1, reach[2] + 1), -1, np.int64)
    for oy in range(reach[1] + 1):
        for oz in range(reach[2] + 1):
            for ox in range(reach[0] + 1):
                if gap(ox, 0) ** 2 + gap(oy, 1) ** 2 + gap(oz, 2) ** 2 < radius**2:
                    extent[oy, oz] = ox
    return cells, extent


MIN_PARTICLES = 250
"""Fewest particles per run of a search from XLA (up to :data:`MAX_RUNS`).
Runs are claimed by the threads of XLA's pool, so there are more runs than
threads: a thread that starts late takes fewer."""

MAX_RUNS = 8
"""Most runs of a search from XLA."""


def _prepare(R, species, box, radius2, cells_per_reach):
    """Wrapped float32 coordinates (z = 0 in 2D), the 3D box, int64 species,
    float64 radii and :func:`stencil`'s grid, for the loops above."""
    R = np.asarray(R)
    n, dim = R.shape
    side = np.asarray(box, np.float64)
    coords = [
        np.ascontiguousarray(np.mod(R[:, a], side[a]), np.float32) for a in range(dim)
    ]
    coords += [np.zeros(n, np.float32)] * (3 - dim)
    box3 = np.concatenate([side, np.ones(3 - dim)])
    species = np.ascontiguousarray(species, np.int64)
    radius2 = np.ascontiguousarray(radius2, np.float64)
    grid = stencil(side, float(np.sqrt(radius2.max())), cells_per_reach)
    return coords, box3, species, radius2, grid


@numba.njit
def search_runs(num_particles, num_cells):  # pragma: no cover
    """Runs of consecutive cells of a search (any split gives the same list)."""
    return max(1, min(MAX_RUNS, num_particles // MIN_PARTICLES, num_cells))


def search(
    R,
    species,
    box,
    radius2,
    capacity: int,
    cells_per_reach: float = 1.0,
    chunks: int | None = None,
):
    """``(idx [N, capacity] int32, largest row count)`` for positions ``R``, in
    NumPy (one thread; the search from XLA is :func:`xla_search`).

    ``R`` is ``[N, dim]`` (dim 2 or 3), ``radius2`` the ``[2, 2]`` squared
    per-pair list radii. Cells are at least ``1 / cells_per_reach`` of the
    largest radius wide. One list radius (3^d cells) measured fastest: the
    candidates of a cell are copied to the buffers once for all its members,
    and the distance loop is cheap next to that copy (LAMMPS's half-radius
    bins were 20 % slower here at N = 1000 to 32000). Boxes too small for a
    stencil of distinct cells are searched whole.
    Distances are computed in float32: the skin, not the last bit, decides
    which pairs a list needs. The cells are searched in ``chunks`` runs of
    consecutive cells (default: as :func:`xla_search` does); every row is
    written by one run, so the list is the same for any ``chunks``.
    """
    coords, box3, species, radius2, grid = _prepare(
        R, species, box, radius2, cells_per_reach
    )
    n = species.shape[0]
    idx = np.empty((n, int(capacity)), np.int32)
    if grid is None:
        most = _search_all(*coords, species, box3, radius2, int(capacity), idx)
        return idx, int(most)
    cells, extent = grid
    total = int(np.prod(cells))
    if chunks is None:
        chunks = search_runs(n, total)
    start, order, sorted_ = _bin(*coords, species, box3, cells)
    r2 = radius2.astype(np.float32)
    most = 0
    for k in range(int(chunks)):
        c0, c1 = k * total // chunks, (k + 1) * total // chunks
        found = _cells(
            c0, c1, start, order, sorted_, box3, cells, extent, r2, int(capacity), idx
        )
        most = max(most, found)
    return idx, int(most)


# -- the XLA FFI handler ---------------------------------------------------
# Arguments: R [N, dim], species [N] int32, the bytes of float64 [box (3),
# radius2 (4)] as int32 (so that they pass whether or not x64 is on), the
# cells per axis (int32 [3]; zeros: no stencil fits, search all pairs), the
# stencil's extent (int32) and the most threads to use. Results: the list
# [N, capacity] int32 and the largest row count (int32 scalar).
# The pooled state's payload: addresses of start, order, the four sorted
# columns, box3, cells, extent, r2 (float32) and idx, then the extent's
# shape, the capacity, the address of the runs' row counts, N and the cells.
_PAYLOAD_WORDS = 17


@numba.njit(inline="always")
def _wrapped(R, a, side, out):  # pragma: no cover
    """Column ``a`` of ``R`` wrapped into ``[0, side)``, as float32 (as
    :func:`_prepare` does: the modulo in float64)."""
    for i in range(R.shape[0]):
        out[i] = np.float32(np.float64(R[i, a]) % side)


@functools.cache
def _target(dtype_name: str) -> str:
    """Register the search handler for positions of ``dtype_name`` (once)."""
    dtype = np.dtype(dtype_name)
    first = _ffi.PAYLOAD
    words = _PAYLOAD_WORDS

    @numba.njit(inline="always")
    def run(state, k):  # pragma: no cover
        w = carray(_ffi.pointer(state + 8 * first), (words,), np.int64)
        n, total, count = w[15], w[16], _ffi.word(state, _ffi.COUNT)
        f32 = np.float32
        sorted_ = (
            carray(_ffi.pointer(w[2]), (n,), f32),
            carray(_ffi.pointer(w[3]), (n,), f32),
            carray(_ffi.pointer(w[4]), (n,), f32),
            carray(_ffi.pointer(w[5]), (n,), f32),
        )
        capacity = w[13]
        most = carray(_ffi.pointer(w[14]), (count,), np.int64)
        most[k] = _cells(
            k * total // count,
            (k + 1) * total // count,
            carray(_ffi.pointer(w[0]), (total + 1,), np.int64),
            carray(_ffi.pointer(w[1]), (n,), np.int64),
            sorted_,
            carray(_ffi.pointer(w[6]), (3,), np.float64),
            carray(_ffi.pointer(w[7]), (3,), np.int64),
            carray(_ffi.pointer(w[8]), (w[11], w[12]), np.int64),
            carray(_ffi.pointer(w[9]), (2, 2), f32),
            capacity,
            carray(_ffi.pointer(w[10]), (n, capacity), np.int32),
        )

    begin, finish, task = _ffi.pooled(run, words)

    @numba.njit
    def body(frame):  # pragma: no cover
        r, r_dims = _ffi.buffer(frame, False, 0)
        s, _ = _ffi.buffer(frame, False, 1)
        p, _ = _ffi.buffer(frame, False, 2)
        c, _ = _ffi.buffer(frame, False, 3)
        e, e_dims = _ffi.buffer(frame, False, 4)
        cap, _ = _ffi.buffer(frame, False, 5)
        i, i_dims = _ffi.buffer(frame, True, 0)
        m, _ = _ffi.buffer(frame, True, 1)
        n, dim, capacity = (
            _ffi.word(r_dims, 0),
            _ffi.word(r_dims, 1),
            _ffi.word(i_dims, 1),
        )
        R = carray(_ffi.pointer(r), (n, dim), dtype)
        species = carray(_ffi.pointer(s), (n,), np.int32).astype(np.int64)
        params = carray(_ffi.pointer(p), (7,), np.float64)
        box3 = params[:3].copy()
        radius2 = params[3:].copy().reshape((2, 2))
        x, y, z = (
            np.empty(n, np.float32),
            np.empty(n, np.float32),
            np.zeros(n, np.float32),
        )
        _wrapped(R, 0, box3[0], x)
        _wrapped(R, 1, box3[1], y)
        if dim == 3:
            _wrapped(R, 2, box3[2], z)
        idx = carray(_ffi.pointer(i), (n, capacity), np.int32)
        out = carray(_ffi.pointer(m), (1,), np.int32)
        cells = carray(_ffi.pointer(c), (3,), np.int32).astype(np.int64)
        if cells[0] == 0:
            out[0] = _search_all(x, y, z, species, box3, radius2, capacity, idx)
            return
        er, ec = _ffi.word(e_dims, 0), _ffi.word(e_dims, 1)
        extent = carray(_ffi.pointer(e), (er, ec), np.int32).astype(np.int64)
        r2 = radius2.astype(np.float32)
        start, order, sorted_ = _bin(x, y, z, species, box3, cells)
        total = cells[0] * cells[1] * cells[2]
        count = search_runs(n, total)
        most = np.zeros(count, np.int64)
        state = begin(count)
        w = carray(_ffi.pointer(state + 8 * first), (words,), np.int64)
        w[0], w[1] = start.ctypes.data, order.ctypes.data
        w[2], w[3] = sorted_[0].ctypes.data, sorted_[1].ctypes.data
        w[4], w[5] = sorted_[2].ctypes.data, sorted_[3].ctypes.data
        w[6], w[7], w[8] = box3.ctypes.data, cells.ctypes.data, extent.ctypes.data
        w[9], w[10], w[11], w[12] = r2.ctypes.data, i, er, ec
        w[13], w[14], w[15], w[16] = capacity, most.ctypes.data, n, total
        finish(frame, state, carray(_ffi.pointer(cap), (1,), np.int32)[0])
        out[0] = most.max()
        _ffi.alive(start, order, sorted_[0], sorted_[1], sorted_[2], sorted_[3])
        _ffi.alive(box3, cells, extent, r2, most)

    name = f"glassland_ka_search_{dtype.name}"
    _ffi.register(name, body, task)
    return name


def xla_search(R, species, box, radius2, capacity: int, cells_per_reach: float = 1.0):
    """``(idx [N, capacity] int32, largest row count)``: :func:`search` called
    from XLA (jittable), its runs on XLA's threads.

    ``box`` and ``radius2`` are static (NumPy): they set the cells.
    """
    n, dim = R.shape
    dtype = jnp.dtype(R.dtype)
    if dtype not in (jnp.float32, jnp.float64):
        raise ValueError(
            f"the host search takes float32 or float64 positions, got {dtype}"
        )
    side = np.asarray(box, np.float64)
    radius2 = np.broadcast_to(np.asarray(radius2, np.float64), (2, 2))
    grid = stencil(side, float(np.sqrt(radius2.max())), cells_per_reach)
    cells, extent = grid if grid is not None else (np.zeros(3), np.zeros((1, 1)))
    box3 = np.concatenate([side, np.ones(3 - dim)])
    params = np.concatenate([box3, radius2.reshape(-1)]).view(np.int32)
    call = jax.ffi.ffi_call(
        _target(dtype.name),
        (
            jax.ShapeDtypeStruct((n, int(capacity)), jnp.int32),
            jax.ShapeDtypeStruct((), jnp.int32),
        ),
        vmap_method="sequential",
    )
    return call(
        R,
        jnp.asarray(species, jnp.int32),
        jnp.asarray(params, jnp.int32),
        jnp.asarray(cells, jnp.int32),
        jnp.asarray(extent, jnp.int32),
        jnp.asarray([_ffi.threads()], jnp.int32),
    )
