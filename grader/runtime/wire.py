"""The wire between the harness and the processes that run attempts (the worker, the ranks):
tensors cross as shared memory (CPU) or CUDA IPC handles (GPU). What the worker sends is
untrusted, so the harness unpickles it with a whitelist: tensors, storages and plain data only,
never a class or function the attempt could choose, and a tensor only where its size, strides
and offset lie inside its storage (the worker writes that metadata: a forged one made the
harness resize its own shared segment and segfault)."""

from __future__ import annotations

import io
import math
import pickle
from multiprocessing.connection import Connection
from multiprocessing.reduction import ForkingPickler
from typing import Any

import torch
import torch.multiprocessing  # noqa: F401 - registers the tensor reductions with ForkingPickler

HANDLE, CALLBACK = "__dojo_handle__", "__dojo_callback__"  # markers of non-data values
MAX_MESSAGE = 64 << 20  # tensors travel by handle, so a message is small; this bounds a flood
MAX_BROADCAST = 1 << 26  # elements a view with zero strides may show beyond its storage's own

_ALLOWED = {
    ("torch.multiprocessing.reductions", "rebuild_tensor"),
    ("torch.multiprocessing.reductions", "rebuild_typed_storage"),
    ("torch.multiprocessing.reductions", "rebuild_storage_fd"),
    ("torch.multiprocessing.reductions", "rebuild_storage_filename"),
    ("torch.multiprocessing.reductions", "rebuild_storage_empty"),
    ("torch.multiprocessing.reductions", "rebuild_cuda_tensor"),
    ("torch.multiprocessing.reductions", "rebuild_typed_storage_child"),
    ("torch", "Tensor"),
    ("torch", "Size"),
    ("torch", "device"),
    ("torch.storage", "UntypedStorage"),
    ("torch.storage", "TypedStorage"),
    ("multiprocessing.resource_sharer", "DupFd"),
    ("builtins", "slice"),
    ("builtins", "complex"),
    ("builtins", "frozenset"),
    ("builtins", "set"),
}
# Shared memory by file name: the worker is no multiprocessing child of the harness, so it cannot
# authenticate to the harness's fd-passing resource sharer; named segments need no handshake.
torch.multiprocessing.set_sharing_strategy("file_system")
_DTYPES = {
    str(d).removeprefix("torch.") for d in vars(torch).values() if isinstance(d, torch.dtype)
}


class Unreceivable(Exception):
    """The worker sent something the harness will not unpickle; str() says what."""


class _SafeUnpickler(pickle.Unpickler):
    def find_class(self, module: str, name: str) -> Any:
        if (module, name) in _ALLOWED or (module == "torch" and name in _DTYPES):
            found = super().find_class(module, name)
            return _fitted(found) if name in ("rebuild_tensor", "rebuild_cuda_tensor") else found
        raise Unreceivable(f"a {module}.{name}, which the harness does not accept")


def _fitted(rebuild: Any) -> Any:
    """rebuild_tensor / rebuild_cuda_tensor, first on an empty view of the storage they name
    (always safe), then given the claimed size, strides and offset only if they fit in it."""

    def checked(*args: Any) -> Any:
        if rebuild.__name__ == "rebuild_tensor":
            cls, storage, (offset, size, stride, grad) = args
            empty = rebuild(cls, storage, (0, torch.Size([0]), (1,), False))
        else:  # first against the bytes it claims, before any IPC handle is opened
            cls, size, stride, offset, *rest = args
            _check_extent(size, stride, offset, _claimed_elements(rest[1], rest[4]))
            empty, grad = rebuild(cls, torch.Size([0]), (1,), 0, *rest), rest[6]
        _check_extent(size, stride, offset, empty.untyped_storage().nbytes() // empty.itemsize)
        return empty.set_(empty.untyped_storage(), offset, size, stride).requires_grad_(grad)

    return checked


def _claimed_elements(dtype: Any, size_bytes: Any) -> int:
    """The elements a CUDA storage of `size_bytes` holds, as its sender claims."""
    if not isinstance(dtype, torch.dtype) or type(size_bytes) is not int or size_bytes < 0:
        raise Unreceivable(f"a CUDA tensor with storage {size_bytes!r} bytes of {dtype!r}")
    return size_bytes // dtype.itemsize


def _check_extent(size: Any, stride: Any, offset: Any, elements: int) -> None:
    ints = [offset, *size, *stride]
    if not all(type(i) is int and i >= 0 for i in ints) or len(size) != len(stride):
        raise Unreceivable(f"a tensor with size {size}, strides {stride}, offset {offset}")
    last = offset + sum((n - 1) * s for n, s in zip(size, stride)) if all(size) else offset - 1
    if last >= elements or math.prod(size) > max(elements, MAX_BROADCAST):
        raise Unreceivable(
            f"a tensor of size {tuple(size)} (strides {tuple(stride)}, offset {offset}) "
            f"that does not fit its storage of {elements} elements"
        )


def send(conn: Connection, message: Any) -> None:
    buf = io.BytesIO()
    ForkingPickler(buf, pickle.HIGHEST_PROTOCOL).dump(message)
    conn.send_bytes(buf.getbuffer())


def receive(conn: Connection) -> Any:
    """One message from the worker, unpickled through the whitelist; Unreceivable otherwise."""
    try:
        data = conn.recv_bytes(MAX_MESSAGE)
    except OSError as e:
        if "bad message length" not in str(e):  # the worker died mid-message: not its reply
            raise EOFError(str(e)) from None
        raise Unreceivable(f"a message over {MAX_MESSAGE >> 20} MiB") from None
    try:
        return _SafeUnpickler(io.BytesIO(data)).load()
    except Unreceivable:
        raise
    except Exception as e:  # noqa: BLE001 - a malformed message is the worker's fault
        raise Unreceivable(f"a malformed message ({type(e).__name__}: {e})") from None


def receive_trusted(conn: Connection) -> Any:
    """The worker's side: messages from the harness are the grader's own."""
    return pickle.loads(conn.recv_bytes())
