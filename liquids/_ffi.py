"""XLA FFI handlers written as numba ``cfunc``s, and XLA's thread pool for them.

A handler is registered with ``jax.ffi.register_ffi_target`` and called by
XLA with a pointer to its call frame (``XLA_FFI_CallFrame`` of
``xla/ffi/api/c_api.h``, shipped with jaxlib), from which it reads its
buffers. Unlike ``jax.pure_callback`` nothing is copied and no Python runs.

:func:`pooled` spreads a handler's work over XLA:CPU's own intra-op thread
pool (``XLA_FFI_ThreadPool_Schedule``), so the handoff to another core is a
few microseconds of compiled code instead of a trip through Python threads.
The work is split into a number of runs fixed by the caller; the calling
thread and the scheduled tasks claim runs from an atomic counter until none
are left, and the caller waits only for runs already claimed. A task that
XLA starts late, or never in parallel (XLA may run tasks inline, or on a
pool of one thread), claims nothing; the shared state is freed by whoever
leaves it last.

Offsets (bytes, x86-64 and aarch64) into the structs of ``c_api.h``:

- ``XLA_FFI_CallFrame``: extension_start 8, api 16, ctx 24, args 40
  (``XLA_FFI_Args``: its ``args`` array at 72), rets 80 (its ``rets``
  array at 112).
- ``XLA_FFI_Buffer``: data 24, dims 40.
- ``XLA_FFI_Api``: the function table from 48, so ``Error_Destroy`` at 64,
  ``ThreadPool_Schedule`` at 136, ``ThreadPool_NumThreads`` at 144.
- ``XLA_FFI_Extension_Base``: type 8; ``XLA_FFI_Metadata_Extension``: the
  metadata pointer at 24; ``XLA_FFI_Metadata``: api_version 8
  (``XLA_FFI_Api_Version``: struct_size, extension_start, major, minor),
  traits 32.
"""

from __future__ import annotations

import ctypes
import os

import jax
import numba
import numpy as np
from llvmlite import ir
from numba import carray, types
from numba.core import cgutils
from numba.extending import intrinsic

FFI_API_MAJOR, FFI_API_MINOR = 0, 3
_EXTENSION_METADATA = 1

# Words (8 bytes) into XLA_FFI_CallFrame and XLA_FFI_Api.
_FRAME_API, _FRAME_CTX, _FRAME_ARGS, _FRAME_RETS = 2, 3, 9, 14
_API_ERROR_DESTROY, _API_SCHEDULE, _API_NUM_THREADS = 8, 17, 18

# Words of the state shared by the runs of :func:`pooled`; the payload follows.
_REFS, _NEXT, _DONE, COUNT = 0, 1, 2, 3
PAYLOAD = 4
"""The first word of a pooled handler's own data in the shared state."""

_libc = ctypes.CDLL(None)
_malloc = _libc.malloc
_malloc.argtypes, _malloc.restype = (ctypes.c_size_t,), ctypes.c_void_p
_free = _libc.free
_free.argtypes, _free.restype = (ctypes.c_void_p,), None
_yield = _libc.sched_yield
_yield.argtypes, _yield.restype = (), ctypes.c_int


@intrinsic
def pointer(typingctx, address):
    """The ``void*`` at an integer address."""

    def codegen(context, builder, signature, args):
        return builder.inttoptr(args[0], cgutils.voidptr_t)

    return types.voidptr(types.int64), codegen


@intrinsic
def address(typingctx, ptr):
    """The integer address of a ``void*``."""

    def codegen(context, builder, signature, args):
        return builder.ptrtoint(args[0], cgutils.intp_t)

    return types.int64(types.voidptr), codegen


@intrinsic
def _atomic_add(typingctx, where, value):
    """Add ``value`` to the int64 at address ``where``, atomically (sequentially
    consistent); return the value before."""

    def codegen(context, builder, signature, args):
        ptr = builder.inttoptr(args[0], ir.IntType(64).as_pointer())
        return builder.atomic_rmw("add", ptr, args[1], "seq_cst")

    return types.int64(types.int64, types.int64), codegen


@intrinsic
def _call(typingctx, function, argument):
    """Call the C function ``void* f(void*)`` at address ``function``; return
    its result as an integer."""

    def codegen(context, builder, signature, args):
        fnty = ir.FunctionType(cgutils.voidptr_t, [cgutils.voidptr_t])
        fn = builder.inttoptr(args[0], fnty.as_pointer())
        result = builder.call(fn, [builder.inttoptr(args[1], cgutils.voidptr_t)])
        return builder.ptrtoint(result, cgutils.intp_t)

    return types.int64(types.int64, types.int64), codegen


@numba.njit
def _call_with(function, struct):  # pragma: no cover
    """Call ``function`` on the address of ``struct`` (an int64 array).

    Not inlined on purpose: numba frees an array after its last use, and
    the last use of a struct passed by address would be taking the address,
    before the call reads it. An argument stays alive until the call returns.
    """
    return _call(function, struct.ctypes.data)


@numba.njit(inline="always")
def word(where, k):  # pragma: no cover
    """The ``k``-th 8-byte word at address ``where``, as an int64."""
    return carray(pointer(where), (k + 1,), np.int64)[k]


@numba.njit(inline="always")
def metadata_request(frame):  # pragma: no cover
    """Answer XLA's query for the FFI version, if this call is one."""
    extension = word(frame, 1)
    if extension == 0:
        return False
    if carray(pointer(extension + 8), (1,), np.int32)[0] != _EXTENSION_METADATA:
        return False
    metadata = word(extension, 3)
    version = carray(pointer(metadata + 8), (2,), np.int64)
    version[0] = 32  # XLA_FFI_Api_Version_STRUCT_SIZE
    version[1] = 0
    numbers = carray(pointer(metadata + 24), (2,), np.int32)
    numbers[0] = FFI_API_MAJOR
    numbers[1] = FFI_API_MINOR
    carray(pointer(metadata + 32), (1,), np.uint32)[0] = 0  # no traits
    return True


@numba.njit(inline="always")
def buffer(frame, results, k):  # pragma: no cover
    """``(data address, dims address)`` of argument (or result) ``k``."""
    buf = word(word(frame, _FRAME_RETS if results else _FRAME_ARGS), k)
    return word(buf, 3), word(buf, 5)


@numba.njit(inline="always")
def _pool_threads(frame):  # pragma: no cover
    """Threads of XLA's intra-op pool (1 when it has none)."""
    api, ctx = word(frame, _FRAME_API), word(frame, _FRAME_CTX)
    out = np.zeros(1, np.int64)
    query = np.zeros(4, np.int64)  # XLA_FFI_ThreadPool_NumThreads_Args
    query[0], query[2], query[3] = 32, ctx, out.ctypes.data
    error = _call_with(word(api, _API_NUM_THREADS), query)
    if error != 0:
        _forget(api, error)
        return 1
    return max(out[0], 1)


@numba.njit(inline="always")
def _forget(api, error):  # pragma: no cover
    """Destroy an ``XLA_FFI_Error`` (XLA had no pool: the caller works alone)."""
    destroy = np.zeros(3, np.int64)  # XLA_FFI_Error_Destroy_Args
    destroy[0], destroy[2] = 24, error
    _call_with(word(api, _API_ERROR_DESTROY), destroy)


def threads() -> int:
    """The most threads a pooled handler uses: numba's (``NUMBA_NUM_THREADS``),
    at most the cores this process may run on (``taskset`` and batch
    schedulers restrict them), and at most XLA's pool. Callers pass it to
    their handler as an argument."""
    try:
        cores = len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - not on Linux
        cores = os.cpu_count() or 1
    return max(1, min(numba.config.NUMBA_NUM_THREADS, cores))


@numba.njit
def alive(*arrays):  # pragma: no cover
    """A use of ``arrays`` after the pooled runs: numba frees an array after
    its last use, and runs that read arrays through raw addresses need them
    until :func:`pooled`'s ``finish`` returns."""
    return len(arrays)


def pooled(run, payload_words: int):
    """``(start, finish, task)`` that share a handler's runs over XLA's pool.

    ``run(state, k)`` (numba-jitted) does run ``k``, reading its data from
    the ``payload_words`` words at ``state + 8 * PAYLOAD``. In a handler,
    ``state = start(count)`` allocates the shared state for ``count`` runs;
    the handler writes the payload, then ``finish(frame, state, workers)``
    does all the runs on up to ``workers`` threads (the caller and tasks on
    XLA's pool) and returns when they are done. ``task`` is the compiled
    task, which must be kept alive as long as the handler.
    """
    size = 8 * (PAYLOAD + payload_words)

    @numba.njit(inline="always")
    def drain(state):  # pragma: no cover
        count = word(state, COUNT)
        while True:
            k = _atomic_add(state + 8 * _NEXT, 1)
            if k >= count:
                return
            run(state, k)
            _atomic_add(state + 8 * _DONE, 1)

    @numba.njit(inline="always")
    def release(state):  # pragma: no cover
        if _atomic_add(state + 8 * _REFS, -1) == 1:
            _free(pointer(state))

    @numba.cfunc(types.void(types.voidptr), nopython=True)
    def task(data):  # pragma: no cover
        state = address(data)
        drain(state)
        release(state)

    task_address = task.address

    @numba.njit(inline="always")
    def start(count):  # pragma: no cover
        state = address(_malloc(size))
        header = carray(pointer(state), (PAYLOAD,), np.int64)
        header[_REFS], header[_NEXT], header[_DONE], header[COUNT] = 1, 0, 0, count
        return state

    @numba.njit(inline="always")
    def finish(frame, state, workers):  # pragma: no cover
        count = word(state, COUNT)
        helpers = min(workers, count, _pool_threads(frame)) - 1
        if helpers > 0:
            api, ctx = word(frame, _FRAME_API), word(frame, _FRAME_CTX)
            _atomic_add(state + 8 * _REFS, helpers)
            schedule = np.zeros(5, np.int64)  # XLA_FFI_ThreadPool_Schedule_Args
            schedule[0], schedule[2], schedule[3], schedule[4] = (
                40,
                ctx,
                task_address,
                state,
            )
            for _ in range(helpers):
                error = _call_with(word(api, _API_SCHEDULE), schedule)
                if error != 0:  # no pool: this thread does the runs
                    _forget(api, error)
                    release(state)
        drain(state)
        while _atomic_add(state + 8 * _DONE, 0) < count:  # runs still running
            _yield()
        release(state)

    return start, finish, task


_KEEP: list = []
"""The registered handlers and their tasks: XLA holds raw pointers to them."""


def register(name: str, body, task=None) -> None:
    """Register ``body(frame)`` (numba-jitted; reads its buffers from the call
    frame at address ``frame``) as the CPU FFI target ``name``.

    The handler, a numba ``cfunc``, answers XLA's version query itself and
    calls ``body`` for every other call. ``task`` is the pooled task the
    body schedules (from :func:`pooled`), kept alive with the handler.
    """

    @numba.cfunc(types.voidptr(types.voidptr), nopython=True)
    def handler(frame_pointer):  # pragma: no cover
        frame = address(frame_pointer)
        if not metadata_request(frame):
            body(frame)
        return pointer(0)

    capsule = ctypes.pythonapi.PyCapsule_New
    capsule.restype = ctypes.py_object
    capsule.argtypes = (ctypes.c_void_p, ctypes.c_char_p, ctypes.c_void_p)
    jax.ffi.register_ffi_target(
        name, capsule(handler.address, b"xla._CUSTOM_CALL_TARGET", None), "cpu"
    )
    _KEEP.append((handler, task))
