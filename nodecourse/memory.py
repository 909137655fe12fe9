"""Memory of a forward and backward pass: the autograd graph and the peak.

Two measurements, because each sees something the other does not:

- ``SavedTensorMemory`` counts the bytes that autograd saves for the backward pass
  (``torch.autograd.graph.saved_tensors_hooks``), each storage once. Exact and cheap,
  and exactly the memory that backpropagation through a solver accumulates step by
  step; it does not see transient memory, such as the work inside a backward pass.
- ``peak_memory`` is the most memory allocated at any moment while a function runs.
  On CUDA the allocator records it; on the CPU ``torch.profiler`` with
  ``profile_memory=True`` records every allocation and free as an event, and the
  maximum of their running sum in time order is the peak.
"""

from __future__ import annotations

import contextlib
import gc
import os
import re
import sys
import tempfile
import weakref
from collections.abc import Callable, Iterable

import torch
from torch.autograd.graph import saved_tensors_hooks
from torch.profiler import ProfilerActivity, profile

__all__ = ["SavedTensorMemory", "peak_memory", "peak_memory_method"]


class SavedTensorMemory:
    """Bytes that autograd saves for backward inside the context, still alive.

    Use it around a forward pass and read ``nbytes`` before the backward pass (which
    frees the graph)::

        with SavedTensorMemory(exclude=field.parameters()) as saved:
            ys = nc.rk4(field, y0, ts, n_steps=100).ys
        graph_bytes = saved.nbytes

    Args:
        exclude: tensors whose storages are not counted, typically the parameters,
            which autograd saves but which exist without the graph too.

    Each storage counts once, however many saved tensors view it; only weak
    references are kept, so counting keeps nothing alive.
    """

    def __init__(self, exclude: Iterable[torch.Tensor] = ()):
        self.exclude = {p.untyped_storage().data_ptr() for p in exclude}
        self._saved: list[weakref.ref] = []

    def _pack(self, tensor: torch.Tensor) -> torch.Tensor:
        packed = tensor.detach()  # same storage, no reference back to the graph
        self._saved.append(weakref.ref(packed))
        return packed

    def __enter__(self) -> SavedTensorMemory:
        self._hooks = saved_tensors_hooks(self._pack, lambda packed: packed)
        self._hooks.__enter__()
        return self

    def __exit__(self, *exc_info) -> None:
        self._hooks.__exit__(*exc_info)

    @property
    def nbytes(self) -> int:
        """Bytes of the saved storages that are still alive, ``exclude`` left out."""
        storages = {}
        for ref in self._saved:
            tensor = ref()
            if tensor is not None:
                storage = tensor.untyped_storage()
                storages[storage.data_ptr()] = storage.nbytes()
        return sum(n for ptr, n in storages.items() if ptr not in self.exclude)


def peak_memory_method(device: torch.device | str) -> str:
    """How ``peak_memory`` measures on ``device``, in words."""
    device = torch.device(device)
    if device.type == "cuda":
        return "CUDA allocator peak (torch.cuda.max_memory_allocated)"
    if device.type == "cpu":
        return "CPU: torch.profiler allocation events, maximum of their running sum"
    return f"none on {device.type}"


def peak_memory(fn: Callable[[], object], device: torch.device | str) -> int | None:
    """Peak bytes allocated while ``fn()`` runs, above what was allocated before.

    Args:
        fn: the work to measure, called once without arguments.
        device: where ``fn`` allocates: ``cuda`` (the allocator's own peak) or
            ``cpu`` (``torch.profiler`` allocation events).

    Returns:
        The peak in bytes, or ``None`` on a device with no measurement (MPS).

    Warning:
        On the CPU the profiler slows ``fn`` down several times, so time it
        separately. Memory allocated before the call and freed inside it shows as a
        negative event, which can only lower the running sum: the peak is never
        overstated.
    """
    device = torch.device(device)
    gc.collect()  # garbage of earlier work must not be freed inside the window
    if device.type == "cuda":
        torch.cuda.synchronize(device)
        torch.cuda.reset_peak_memory_stats(device)
        before = torch.cuda.memory_allocated(device)
        fn()
        torch.cuda.synchronize(device)
        return torch.cuda.max_memory_allocated(device) - before
    if device.type != "cpu":
        return None
    with _profiler_log_filtered():
        with profile(activities=[ProfilerActivity.CPU], profile_memory=True) as prof:
            fn()
    # Every allocation (+bytes) and free (-bytes) is a "[memory]" event. The raw
    # event list is read directly: prof.events() holds the same records but takes
    # far longer to build for the many events of a long solve.
    events = [
        e for e in prof.profiler.kineto_results.events() if e.name() == "[memory]"
    ]
    events.sort(key=lambda e: e.start_ns())
    running = peak = 0
    for event in events:
        running += event.nbytes()
        peak = max(peak, running)
    return peak


# What torch's profiler itself writes to the process's standard error on every run
# (native code, so neither `warnings` nor `sys.stderr` sees it): start and stop
# markers, and a note that memory allocated before the window has no free event.
_PROFILER_LOG = re.compile(
    r"^(USDT:.*profiler_(start|stop)"
    r"|\[W[^\]]*CPUAllocator\.cpp:\d+\] Memory block of unknown size.*)$"
)


@contextlib.contextmanager
def _profiler_log_filtered():
    # The profiler's own log lines go to file descriptor 2, unconditionally on the
    # torch builds we use; in a notebook they arrive late and in no fixed cell. Send
    # descriptor 2 to a temporary file for the duration, then write back every line
    # that is not one of those log lines, so nothing else is lost.
    try:
        fd = sys.__stderr__.fileno() if sys.__stderr__ is not None else 2
    except (AttributeError, OSError, ValueError):
        yield  # no real descriptor to redirect (an embedded interpreter)
        return
    for stream in (sys.stderr, sys.__stderr__):
        with contextlib.suppress(AttributeError, OSError, ValueError):
            stream.flush()
    saved = os.dup(fd)
    with tempfile.TemporaryFile(mode="w+b") as captured:
        os.dup2(captured.fileno(), fd)
        try:
            yield
        finally:
            with contextlib.suppress(AttributeError, OSError, ValueError):
                sys.__stderr__.flush()
            os.dup2(saved, fd)
            os.close(saved)
            captured.seek(0)
            text = captured.read().decode(errors="replace")
            kept = [
                line
                for line in text.splitlines(keepends=True)
                if not _PROFILER_LOG.match(line.rstrip("\n"))
            ]
            if kept:
                os.write(fd, "".join(kept).encode())
