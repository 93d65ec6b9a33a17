"""Compiled (numba) cell-list search for :mod:`liquids.neighbors` on CPU.

The neighbour search is integer bookkeeping with no gradient: a binned loop
that appends each close pair to its row. Expressed as dense XLA array
operations (see :meth:`liquids.neighbors.VerletBuilder.build`) the same
search spends most of its time compacting masks; a compiled loop does it
in a few nanoseconds per candidate pair, like LAMMPS's binned builder. The
list comes from here through ``jax.pure_callback``; each row lists its
higher neighbours first, for the host force kernel
(:mod:`liquids._host_force`).

The cells are searched in parallel on the cores the process may use: the
compiled loop releases the GIL, and runs of cells go to a small pool of
Python threads (``NUMBA_NUM_THREADS`` caps them; :func:`parallel`, which
the force kernel shares). Numba's own parallel loops are not used: its
OpenMP layer kills a child process forked after a search, and its fallback
layer aborts when two threads launch at once. XLA's threads are idle while
the callback runs.
"""

from __future__ import annotations

import concurrent.futures
import os
import threading

import numba
import numpy as np
from numba.cpython.unsafe.numbers import trailing_zeros


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


_POOLS: dict = {}
"""The search's thread pool, by process and size: a pool inherited through
``fork`` has no threads, and ``threads()`` follows the CPU affinity."""


def _pool(size: int) -> concurrent.futures.ThreadPoolExecutor:
    key = (os.getpid(), size)
    if key not in _POOLS:
        _POOLS.clear()
        _POOLS[key] = concurrent.futures.ThreadPoolExecutor(
            size, thread_name_prefix="glassland-search"
        )
    return _POOLS[key]


MIN_PARTICLES = 2000
"""Fewest particles per parallel run of the search by default. Handing a run
to a pool thread costs 0.06-0.13 ms; at N = 1000 (a 1 ms search) splitting
it in two gained nothing in the median from jitted code (1.6 against 1.55
ms), at N = 8000 it saved a quarter (7.9 against 10.1 ms)."""


def threads() -> int:
    """Threads of :func:`parallel` (the search's and the force kernel's):
    numba's (``NUMBA_NUM_THREADS``), at most the cores this process may run
    on (``taskset`` and batch schedulers restrict them)."""
    try:
        cores = len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - not on Linux
        cores = os.cpu_count() or 1
    return max(1, min(numba.config.NUMBA_NUM_THREADS, cores))


def parallel(task, count: int) -> None:
    """Run ``task(0)``, ..., ``task(count - 1)`` on up to :func:`threads` threads.

    The caller and ``min(count, threads()) - 1`` threads of a pool take the
    tasks in turn until none is left (compiled tasks that release the GIL
    run in parallel); serial when ``count`` or ``threads()`` is 1. An error
    of any task is raised here, after all have finished.
    """
    available = threads()
    workers = min(available, count)
    if workers <= 1:
        for k in range(count):
            task(k)
        return
    tasks = iter(range(count))
    lock = threading.Lock()

    def drain():
        while True:
            with lock:
                k = next(tasks, None)
            if k is None:
                return
            task(k)

    futures = [_pool(available - 1).submit(drain) for _ in range(workers - 1)]
    try:
        drain()
    finally:
        concurrent.futures.wait(futures)
    for f in futures:
        f.result()


def _search_runs(coords, species, box, cells, extent, radius2, capacity, idx, chunks):
    """Bin, then search the cells in ``chunks`` runs of consecutive cells, in
    :func:`parallel`. Every row is written by one run, so the list is the same
    for any ``chunks``. Returns the largest row count.
    """
    start, order, sorted_ = _bin(*coords, species, box, cells)
    total = int(np.prod(cells))
    args = (start, order, sorted_, box, cells, extent, radius2.astype(np.float32))
    most = [0] * chunks

    def run(k):
        c0, c1 = k * total // chunks, (k + 1) * total // chunks
        most[k] = _cells(c0, c1, *args, int(capacity), idx)

    parallel(run, chunks)
    return max(most)


def search(
    R,
    species,
    box,
    radius2,
    capacity: int,
    cells_per_reach: float = 1.0,
    chunks: int | None = None,
):
    """``(idx [N, capacity] int32, largest row count)`` for positions ``R``.

    ``R`` is ``[N, dim]`` (dim 2 or 3), ``radius2`` the ``[2, 2]`` squared
    per-pair list radii. Cells are at least ``1 / cells_per_reach`` of the
    largest radius wide. One list radius (3^d cells) measured fastest: the
    candidates of a cell are copied to the buffers once for all its members,
    and the distance loop is cheap next to that copy (LAMMPS's half-radius
    bins were 20 % slower here at N = 1000 to 32000). Boxes too small for a
    stencil of distinct cells are searched whole.
    Distances are computed in float32: the skin, not the last bit, decides
    which pairs a list needs. The cells are searched in ``chunks`` runs of
    consecutive cells on up to :func:`threads` threads (default:
    one run per thread, each of at least :data:`MIN_PARTICLES` particles);
    the list is the same for any number of either. Best of repeats, two
    threads against one: N = 32000 in 17-21 ms against 29-32 ms (from jitted
    code 20 against 32 ms), N = 8000 in 4.6-4.9 ms against 7.6-7.9 ms.
    """
    R = np.asarray(R)
    n, dim = R.shape
    side = np.asarray(box, np.float64)
    # wrapped into [0, L): the cells assume it; z = 0 in 2D
    coords = [
        np.ascontiguousarray(np.mod(R[:, a], side[a]), np.float32) for a in range(dim)
    ]
    coords += [np.zeros(n, np.float32)] * (3 - dim)
    box3 = np.concatenate([side, np.ones(3 - dim)])
    species = np.ascontiguousarray(species, np.int64)
    radius2 = np.ascontiguousarray(radius2, np.float64)
    idx = np.empty((n, int(capacity)), np.int32)
    grid = stencil(side, float(np.sqrt(radius2.max())), cells_per_reach)
    if grid is None:
        most = _search_all(*coords, species, box3, radius2, int(capacity), idx)
    else:
        cells, extent = grid
        if chunks is None:  # one run per thread, of MIN_PARTICLES or more
            chunks = min(threads(), max(1, n // MIN_PARTICLES), int(np.prod(cells)))
        most = _search_runs(
            coords, species, box3, cells, extent, radius2, capacity, idx, int(chunks)
        )
    return idx, int(most)
