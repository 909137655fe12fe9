"""Device choice, seeding and the dtype policy."""

import random

import numpy as np
import pytest
import torch

import nodecourse as nc
from nodecourse import device as device_mod


def test_default_choice_prefers_cuda_then_mps_then_cpu(monkeypatch):
    monkeypatch.delenv(nc.device.DEVICE_ENV_VAR, raising=False)
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    monkeypatch.setattr(device_mod, "_mps_available", lambda: False)
    assert nc.get_device() == torch.device("cpu")
    monkeypatch.setattr(device_mod, "_mps_available", lambda: True)
    assert nc.get_device() == torch.device("mps")
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    assert nc.get_device() == torch.device("cuda")


def test_override_by_argument_and_environment(monkeypatch):
    monkeypatch.setenv(nc.device.DEVICE_ENV_VAR, "cpu")
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    assert nc.get_device() == torch.device("cpu")
    assert nc.get_device("cpu") == torch.device("cpu")


def test_unavailable_or_unknown_device_is_a_clear_error(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    with pytest.raises(ValueError, match=r"'cuda' \(from prefer\) is not available"):
        nc.get_device("cuda")
    monkeypatch.setenv(nc.device.DEVICE_ENV_VAR, "cuda")
    with pytest.raises(ValueError, match="NODECOURSE_DEVICE"):
        nc.get_device()
    with pytest.raises(ValueError, match="unknown device 'gpu'"):
        nc.get_device("gpu")
    with pytest.raises(TypeError, match="device must be a str"):
        nc.get_device(0.5)


def test_dtype_policy():
    assert nc.resolve_dtype("cpu") == torch.float32
    assert nc.resolve_dtype("cpu", torch.float64) == torch.float64
    assert nc.resolve_dtype("mps") == torch.float32
    assert nc.resolve_dtype("mps", torch.float16) == torch.float16
    with pytest.raises(TypeError, match="MPS backend has no float64"):
        nc.resolve_dtype("mps", torch.float64)
    with pytest.raises(TypeError, match="floating torch dtype"):
        nc.resolve_dtype("cpu", torch.int64)


def test_seed_everything_repeats_all_three_generators():
    def draw():
        return random.random(), np.random.rand(), torch.rand(()).item()  # noqa: NPY002

    nc.seed_everything(123)
    first = draw()
    nc.seed_everything(123)
    assert draw() == first
    nc.seed_everything(124)
    assert draw() != first


@pytest.mark.parametrize(
    "seed, error",
    [(-1, ValueError), (2**32, ValueError), (1.5, TypeError), (True, TypeError)],
)
def test_bad_seeds(seed, error):
    with pytest.raises(error, match="seed"):
        nc.seed_everything(seed)
