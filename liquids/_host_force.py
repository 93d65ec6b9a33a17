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

Rows are split into a number of runs that depends only on N (not on the
machine), each with its own force buffer, which XLA then sums in a fixed
order: the forces are the same bits for any number of threads. The runs
share out the threads of :func:`liquids._host_search.parallel`.

The kernel is an XLA FFI handler (``jax.ffi``): a numba ``cfunc`` that
reads XLA's call frame (``xla/ffi/api/c_api.h``, shipped with jaxlib).
Unlike ``jax.pure_callback`` it gets XLA's buffers in place: a callback
costs 0.12 ms a call and copies the list (2.1 ms at N = 32000), about what
the kernel saves.
"""

from __future__ import annotations

import ctypes
import functools
import logging

import jax
import jax.numpy as jnp
import numba
import numpy as np
from numba import carray, types
from numba.core import cgutils
from numba.extending import intrinsic

from liquids._host_search import parallel

logger = logging.getLogger(__name__)

ROWS_PER_RUN = 2000
"""Fewest rows per run of the force (runs share out the cores)."""

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


def run_rows(R, species, idx, constants, out) -> None:
    """Fill ``out`` (``[runs, N, dim]``) with each run's forces, the runs
    shared out over :func:`~liquids._host_search.parallel`'s threads."""
    n = R.shape[0]
    count = out.shape[0]

    def run(k):
        _rows(k * n // count, (k + 1) * n // count, R, species, idx, constants, out[k])

    parallel(run, count)


def forces(R, species, idx, constants) -> np.ndarray:
    """``[N, dim]`` forces at ``R`` from a host-search list ``idx``, in NumPy.

    ``species`` is ``[N]`` int32 (0 or 1), ``constants`` from :func:`table`
    in ``R``'s dtype. Every pair of the list must be in the front of the row
    of its lower index (the host search writes rows so).
    """
    R = np.ascontiguousarray(R)
    out = np.empty((runs(R.shape[0]), *R.shape), R.dtype)
    run_rows(
        R,
        np.ascontiguousarray(species, np.int32),
        np.ascontiguousarray(idx, np.int32),
        constants,
        out,
    )
    return out.sum(axis=0)


# -- the XLA FFI handler ---------------------------------------------------
# Offsets (bytes, x86-64 and aarch64) into the structs of xla/ffi/api/c_api.h:
# XLA_FFI_CallFrame: extension_start 8, args 40 (XLA_FFI_Args: its `args`
# array at 72), rets 80 (its `rets` array at 112). XLA_FFI_Buffer: data 24,
# dims 40. XLA_FFI_Extension_Base: type 8; XLA_FFI_Metadata_Extension: the
# metadata pointer at 24. XLA_FFI_Metadata: api_version 8 (XLA_FFI_Api_Version:
# struct_size, extension_start, major, minor), traits 32.
_FFI_API_MAJOR, _FFI_API_MINOR = 0, 3
_EXTENSION_METADATA = 1


@intrinsic
def _pointer(typingctx, address):
    def codegen(context, builder, signature, args):
        return builder.inttoptr(args[0], cgutils.voidptr_t)

    return types.voidptr(types.int64), codegen


@intrinsic
def _address(typingctx, pointer):
    def codegen(context, builder, signature, args):
        return builder.ptrtoint(args[0], cgutils.intp_t)

    return types.int64(types.voidptr), codegen


@numba.njit(inline="always")
def _word(address, k):  # pragma: no cover
    """The ``k``-th 8-byte word at ``address``, as an int64."""
    return carray(_pointer(address), (k + 1,), np.int64)[k]


@numba.njit(inline="always")
def _metadata_request(frame):  # pragma: no cover
    """Answer XLA's query for the FFI version, if this call is one."""
    extension = _word(frame, 1)
    if extension == 0:
        return False
    if carray(_pointer(extension + 8), (1,), np.int32)[0] != _EXTENSION_METADATA:
        return False
    metadata = _word(extension, 3)
    version = carray(_pointer(metadata + 8), (2,), np.int64)
    version[0] = 32  # XLA_FFI_Api_Version_STRUCT_SIZE
    version[1] = 0
    numbers = carray(_pointer(metadata + 24), (2,), np.int32)
    numbers[0] = _FFI_API_MAJOR
    numbers[1] = _FFI_API_MINOR
    carray(_pointer(metadata + 32), (1,), np.uint32)[0] = 0  # no traits
    return True


@numba.njit(inline="always")
def _buffer(list_address, k):  # pragma: no cover
    """``(data address, dims address)`` of the ``k``-th buffer of a list."""
    buffer = _word(list_address, k)
    return _word(buffer, 3), _word(buffer, 5)


# Arguments: the addresses of R, species, idx, table and out, then N, dim,
# the list width and the number of runs.
_RUNS_CALLBACK = ctypes.CFUNCTYPE(None, *[ctypes.c_int64] * 9)


def _python_runs(dtype):
    """The ctypes callback through which the handler hands its runs to the
    thread pool (Python threads need the interpreter). An error is logged
    and leaves NaN forces, which the MD blow-up check stops on: an exception
    cannot cross back into XLA."""
    ctype = np.ctypeslib.as_ctypes_type(dtype)

    def array(address, shape, c):
        return np.ctypeslib.as_array(ctypes.cast(address, ctypes.POINTER(c)), shape)

    def callback(r, s, i, t, o, n, dim, width, count):
        out = array(o, (count, n, dim), ctype)
        try:
            run_rows(
                array(r, (n, dim), ctype),
                array(s, (n,), ctypes.c_int32),
                array(i, (n, width), ctypes.c_int32),
                array(t, (19,), ctype),
                out,
            )
        except BaseException:
            out[:] = np.nan
            logger.exception("the host force kernel failed")

    return _RUNS_CALLBACK(callback)


_KEEP: list = []
"""The registered handlers and their callbacks: XLA holds raw pointers to both."""


@functools.cache
def _target(dtype_name: str) -> str:
    """Register the FFI handler for ``dtype_name`` (once); return its name."""
    dtype = np.dtype(dtype_name)
    callback = _python_runs(dtype)

    @numba.cfunc(types.voidptr(types.voidptr), nopython=True)
    def handler(frame_pointer):  # pragma: no cover
        frame = _address(frame_pointer)
        if _metadata_request(frame):
            return _pointer(0)
        args, rets = _word(frame, 9), _word(frame, 14)
        r, r_dims = _buffer(args, 0)
        s, _ = _buffer(args, 1)
        i, i_dims = _buffer(args, 2)
        t, _ = _buffer(args, 3)
        o, o_dims = _buffer(rets, 0)
        n, dim = _word(r_dims, 0), _word(r_dims, 1)
        width, count = _word(i_dims, 1), _word(o_dims, 0)
        if count == 1:  # no thread pool: no Python
            R = carray(_pointer(r), (n, dim), dtype)
            species = carray(_pointer(s), (n,), np.int32)
            idx = carray(_pointer(i), (n, width), np.int32)
            constants = carray(_pointer(t), (19,), dtype)
            _rows(
                0, n, R, species, idx, constants, carray(_pointer(o), (n, dim), dtype)
            )
        else:
            callback(r, s, i, t, o, n, dim, width, count)
        return _pointer(0)

    name = f"glassland_ka_forces_{dtype.name}"
    capsule = ctypes.pythonapi.PyCapsule_New
    capsule.restype = ctypes.py_object
    capsule.argtypes = (ctypes.c_void_p, ctypes.c_char_p, ctypes.c_void_p)
    jax.ffi.register_ffi_target(
        name, capsule(handler.address, b"xla._CUSTOM_CALL_TARGET", None), "cpu"
    )
    _KEEP.append((handler, callback))
    return name


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
    )
    # Added slice by slice: XLA:CPU's reduce over the leading axis took 5.3
    # ms for [8, 32000, 3], thirty times longer than these adds.
    total = out[0]
    for k in range(1, out.shape[0]):
        total = total + out[k]
    return total
