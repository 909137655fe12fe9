"""The two memory measurements of chapter 4 and the adjoint benchmark."""

import subprocess
import sys
import textwrap

import pytest
import torch

from nodecourse.memory import SavedTensorMemory, peak_memory, peak_memory_method


def test_saved_tensor_memory_counts_what_autograd_keeps():
    # tanh saves its output (B x H float32); the parameter w is left out.
    w = torch.randn(8, 8, requires_grad=True)
    x = torch.randn(100, 8)
    with SavedTensorMemory(exclude=[w]) as saved:
        u = torch.tanh(x @ w)  # matmul saves x and w; tanh saves u
    assert saved.nbytes == x.numel() * 4 + u.numel() * 4
    u.sum().backward()  # frees the graph: nothing saved is alive any more
    del u
    assert saved.nbytes == 0


def test_saved_tensor_memory_counts_a_storage_once():
    x = torch.randn(1000, requires_grad=True)
    with SavedTensorMemory(exclude=[x]) as saved:
        y = torch.exp(x)  # saves its output y
        z = y * y  # saves y twice: the same storage
    assert saved.nbytes == 1000 * 4
    del z


def test_peak_memory_sees_a_transient_allocation_on_the_cpu():
    n = 1_000_000

    def work():
        big = torch.ones(n)  # 4 MB, freed before the call returns
        return float(big.sum())

    peak = peak_memory(work, "cpu")
    assert 4 * n <= peak < 4 * n + 100_000


def test_peak_memory_is_none_where_nothing_measures_it():
    assert peak_memory(lambda: None, torch.device("meta")) is None
    assert peak_memory_method("meta") == "none on meta"
    assert "profiler" in peak_memory_method("cpu")


def test_peak_memory_on_cuda(device):
    if device.type != "cuda":
        pytest.skip("the allocator's peak exists on CUDA only")
    n = 1_000_000
    peak = peak_memory(lambda: torch.ones(n, device=device).sum(), device)
    assert peak >= 4 * n


def test_profiler_log_lines_are_dropped_and_other_stderr_kept():
    # The profiler writes its own start/stop lines to file descriptor 2; in a
    # notebook they land in no fixed cell. They must be gone, and whatever else the
    # measured work writes to standard error must still arrive.
    script = textwrap.dedent(
        """
        import os, sys, torch
        from nodecourse.memory import peak_memory

        def work():
            os.write(2, b"native line from the work\\n")
            print("python line from the work", file=sys.stderr)
            torch.ones(1000).sum()

        print(peak_memory(work, "cpu") > 0)
        """
    )
    result = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, check=True
    )
    assert result.stdout.strip() == "True"
    assert "USDT" not in result.stderr
    assert "profiler_start" not in result.stderr
    assert "native line from the work" in result.stderr
    assert "python line from the work" in result.stderr
