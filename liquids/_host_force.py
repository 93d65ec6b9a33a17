"""Compiled (numba) Kob-Andersen forces on CPU, each pair computed once.

The XLA force kernel (:meth:`liquids.potentials.KAPotential.force`) has no
scatter: each pair sits in both rows of the dense list and is computed
twice, once for each particle. A compiled loop can use Newton's third law
instead, as LAMMPS does: the force of a pair is added to the row particle
and subtracted from its neighbour. The host search writes every row with
its neighbours ``j > i`` first (:func:`liquids._host_search._append`), so
row ``i``'s front is its half of the list, read without testing each slot.

Per row, the front's coordinates and pair types are copied into contiguous
buffers; the pair loop over them is branch-free and vectorised by LLVM
(``error_model="numpy"``: Python's zero-division check would stop it); a
last loop subtracts the pair forces from the neighbours.

Rows are split into a number of runs set by N alone (not by the machine),
each with its own force buffer, which XLA then sums in a fixed order: the
forces are the same bits for any number of threads. The runs go to XLA's
own thread pool (:func:`liquids._ffi.pooled`).

The kernel is an XLA FFI handler (``jax.ffi``): a numba ``cfunc`` that
reads XLA's call frame (``xla/ffi/api/c_api.h``, shipped with jaxlib).
Unlike ``jax.pure_callback`` it gets XLA's buffers in place: a callback
costs 0.12 ms a call and copies the list (2.1 ms at N = 32000), about what
the kernel saves. Handing runs to Python threads through a ctypes callback
cost more than splitting gained at N = 1000; handing them to XLA's threads
from compiled code costs microseconds.
"""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
import numba
import numpy as np
from numba import carray

from liquids import _ffi

ROWS_PER_RUN = 250
"""Fewest rows per run of the force. Runs are claimed in turn by the threads
of XLA's pool, so there are more runs than threads: a thread that starts
late takes fewer (N = 1000 on two cores: 0.18-0.20 ms a call in 4 runs,
0.22 in 8, 0.26-0.30 in 2, against 0.30-0.33 on one thread)."""

MAX_RUNS = 8
"""Most runs of the force: their buffers hold ``MAX_RUNS * N * dim`` floats."""


# -- the kernel ------------------------------------------------------------


@numba.njit(nogil=True, fastmath=True, error_model="numpy", cache=True)
def _pairs(m, xi, yi, zi, bx, by, bz, bp, ox, oy, oz, table):  # pragma: no cover
    """Forces on particle ``i`` from its ``m`` buffered neighbours.

    ``b*`` are the neighbours' coordinates and pair types (0 AA, 1 AB, 2
    BB); the force on ``i`` from each neighbour is written to ``o*`` and
    their sum is returned. ``table`` is the layout of :func:`table`.
    """
    lx, ly, lz, ix, iy, iz = table[0], table[1], table[2], table[3], table[4], table[5]
    e0, e1, e2 = table[6], table[7], table[8]
    s0, s1, s2 = table[9], table[10], table[11]
    c0, c1, c2 = table[12], table[13], table[14]
    zero, one, two, c24 = table[15], table[16], table[17], table[18]
    fx, fy, fz = zero, zero, zero
    for k in range(m):
        dx = xi - bx[k]
        dy = yi - by[k]
        dz = zi - bz[k]
        dx -= lx * np.rint(dx * ix)
        dy -= ly * np.rint(dy * iy)
        dz -= lz * np.rint(dz * iz)
        r2 = dx * dx + dy * dy + dz * dz
        p = bp[k]
        eps = e0 if p == 0 else (e1 if p == 1 else e2)
        sig2 = s0 if p == 0 else (s1 if p == 1 else s2)
        rc2 = c0 if p == 0 else (c1 if p == 1 else c2)
        inv = one / r2
        x6 = sig2 * inv
        x6 = x6 * x6 * x6
        fm = c24 * eps * (two * x6 * x6 - x6) * inv
        fm = fm if r2 < rc2 else zero
        gx, gy, gz = fm * dx, fm * dy, fm * dz
        fx += gx
        fy += gy
        fz += gz
        ox[k] = gx
        oy[k] = gy
        oz[k] = gz
    return fx, fy, fz


@numba.njit(nogil=True, cache=True)
def _rows(r0, r1, R, species, idx, table, f):  # pragma: no cover
    """Write to ``f`` (``[N, dim]``, zeroed here) the forces of the pairs in
    the fronts of rows ``r0 <= i < r1``. The front of row ``i`` is its
    leading run of neighbours ``i < j < N``."""
    n, dim = R.shape
    width = idx.shape[1]
    f[:] = 0
    bx = np.empty(width, R.dtype)
    by = np.empty(width, R.dtype)
    bz = np.zeros(width, R.dtype)  # stays zero in 2D
    ox = np.empty(width, R.dtype)
    oy = np.empty(width, R.dtype)
    oz = np.empty(width, R.dtype)
    bp = np.empty(width, np.int32)
    bj = np.empty(width, np.int32)
    zi = table[15]  # zero in R's dtype; z of the row particle in 3D
    for i in range(r0, r1):
        si = species[i]
        m = 0
        for k in range(width):
            j = idx[i, k]
            if j <= i or j >= n:
                break
            bj[m] = j
            bx[m] = R[j, 0]
            by[m] = R[j, 1]
            if dim == 3:
                bz[m] = R[j, 2]
            bp[m] = si + species[j]
            m += 1
        if dim == 3:
            zi = R[i, 2]
        fx, fy, fz = _pairs(m, R[i, 0], R[i, 1], zi, bx, by, bz, bp, ox, oy, oz, table)
        for k in range(m):
            j = bj[k]
            f[j, 0] -= ox[k]
            f[j, 1] -= oy[k]
            if dim == 3:
                f[j, 2] -= oz[k]
        f[i, 0] += fx
        f[i, 1] += fy
        if dim == 3:
            f[i, 2] += fz


def table(box, epsilon, sigma, cutoff, dtype) -> np.ndarray:
    """The constants of :func:`_pairs` in ``dtype``: box sides and their
    inverses (3 each; 1 for a missing z), then ``epsilon``, ``sigma^2`` and
    ``cutoff^2`` of the AA, AB and BB pairs, then 0, 1, 2 and 24 (literal
    constants would be float64 and promote float32 arithmetic)."""
    side = np.concatenate([np.asarray(box, np.float64), np.ones(3 - len(box))])
    pairs = [(0, 0), (0, 1), (1, 1)]
    values = [*side, *(1.0 / side)]
    for m in (np.asarray(epsilon), np.asarray(sigma) ** 2, np.asarray(cutoff) ** 2):
        values += [float(m[a, b]) for a, b in pairs]
    return np.asarray(values + [0.0, 1.0, 2.0, 24.0], dtype)


def runs(num_particles: int) -> int:
    """The runs the rows are split into: set by N alone, so the bits of the
    forces do not depend on the machine's cores."""
    return max(1, min(MAX_RUNS, num_particles // ROWS_PER_RUN))


@numba.njit(nogil=True, cache=True)
def _run(k, R, species, idx, table, out):  # pragma: no cover
    """Run ``k`` of ``out.shape[0]``: the forces of its rows into ``out[k]``.

    The runs hold equal numbers of rows. Their numbers of pairs are not
    equal: row ``i``'s front holds about ``1 - i / N`` of its row when the
    particles' order is random (half of it when the order follows a
    lattice), so with a random order the first of two runs would hold three
    quarters of the pairs. The threads claim the runs in turn, first to last
    (:func:`liquids._ffi.pooled`), and with more runs than threads the
    shrinking runs even out: N = 1000 in 4 runs is 7 : 5 : 3 : 1, split 8 :
    8 over two threads. Bounding the runs by pair counts instead (a
    bisection of every row for its front) cost 1.6 ms at N = 32000, more
    than it evened out.
    """
    n, count = R.shape[0], out.shape[0]
    _rows(k * n // count, (k + 1) * n // count, R, species, idx, table, out[k])


def forces(R, species, idx, constants) -> np.ndarray:
    """``[N, dim]`` forces at ``R`` from a host-search list ``idx``, in NumPy
    (one thread; the same runs and sum as :func:`xla_forces`, equal to its
    forces to rounding: a separate compiled specialisation).

    ``species`` is ``[N]`` int32 (0 or 1), ``constants`` from :func:`table`
    in ``R``'s dtype. Every pair of the list must be in the front of the row
    of its lower index (the host search writes rows so).
    """
    R = np.ascontiguousarray(R)
    species = np.ascontiguousarray(species, np.int32)
    idx = np.ascontiguousarray(idx, np.int32)
    out = np.empty((runs(R.shape[0]), *R.shape), R.dtype)
    for k in range(out.shape[0]):
        _run(k, R, species, idx, constants, out)
    return _sum_runs(out)


# -- the XLA FFI handler ---------------------------------------------------
# Arguments: R, species, idx, the table and the most threads to use; result:
# the runs' forces [runs, N, dim]. The runs read them from the call frame,
# whose address is the pooled state's one payload word: the frame outlives
# every run, as the handler returns only when the runs it started are done.


@functools.cache
def _target(dtype_name: str) -> str:
    """Register the FFI handler for ``dtype_name`` (once); return its name."""
    dtype = np.dtype(dtype_name)

    @numba.njit(inline="always")
    def run(state, k):  # pragma: no cover
        frame = _ffi.word(state, _ffi.PAYLOAD)
        r, r_dims = _ffi.buffer(frame, False, 0)
        i, i_dims = _ffi.buffer(frame, False, 2)
        o, o_dims = _ffi.buffer(frame, True, 0)
        n, dim, width = _ffi.word(r_dims, 0), _ffi.word(r_dims, 1), _ffi.word(i_dims, 1)
        _run(
            k,
            carray(_ffi.pointer(r), (n, dim), dtype),
            carray(_ffi.pointer(_ffi.buffer(frame, False, 1)[0]), (n,), np.int32),
            carray(_ffi.pointer(i), (n, width), np.int32),
            carray(_ffi.pointer(_ffi.buffer(frame, False, 3)[0]), (19,), dtype),
            carray(_ffi.pointer(o), (_ffi.word(o_dims, 0), n, dim), dtype),
        )

    start, finish, task = _ffi.pooled(run, 1)

    @numba.njit
    def body(frame):  # pragma: no cover
        o_dims = _ffi.buffer(frame, True, 0)[1]
        state = start(_ffi.word(o_dims, 0))
        carray(_ffi.pointer(state), (_ffi.PAYLOAD + 1,), np.int64)[_ffi.PAYLOAD] = frame
        cap = _ffi.buffer(frame, False, 4)[0]
        finish(frame, state, carray(_ffi.pointer(cap), (1,), np.int32)[0])

    name = f"glassland_ka_forces_{dtype.name}"
    _ffi.register(name, body, task)
    return name


def _sum_runs(out):
    """The runs' buffers added in a fixed order (NumPy or JAX arrays). Slice
    by slice: XLA:CPU's reduce over the leading axis took 5.3 ms for
    ``[8, 32000, 3]``, thirty times longer than these adds."""
    total = out[0]
    for k in range(1, out.shape[0]):
        total = total + out[k]
    return total


def xla_forces(
    R: jax.Array, species: jax.Array, idx: jax.Array, constants
) -> jax.Array:
    """``[N, dim]`` forces by the compiled kernel, called from XLA (jittable).

    ``constants`` is :func:`table`'s array in ``R``'s dtype (float32 or
    float64). The runs' buffers are summed here, in a fixed order.
    """
    n = R.shape[0]
    dtype = jnp.dtype(R.dtype)
    if dtype not in (jnp.float32, jnp.float64):
        raise ValueError(
            f"the host force kernel runs in float32 or float64, got positions of "
            f"dtype {dtype}; cast them, or use force_kernel='xla'"
        )
    if idx.ndim != 2 or idx.shape[0] != n or species.shape != (n,):
        raise ValueError(
            f"the host force kernel needs a [N, K] list and [N] species for "
            f"positions of shape {tuple(R.shape)}, got list {tuple(idx.shape)} "
            f"and species {tuple(species.shape)}; build the list at these "
            f"positions with the same potential"
        )
    call = jax.ffi.ffi_call(
        _target(dtype.name),
        jax.ShapeDtypeStruct((runs(n), *R.shape), dtype),
        vmap_method="sequential",
    )
    out = call(
        R,
        species.astype(jnp.int32),
        idx.astype(jnp.int32),
        jnp.asarray(constants, dtype),
        jnp.asarray([_ffi.threads()], jnp.int32),
    )
    return _sum_runs(out)
