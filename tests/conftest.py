"""Shared fixtures: the package tests run on every device available here."""

import pytest
import torch

DEVICES = ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])


@pytest.fixture(params=DEVICES)
def device(request):
    """Each available device in turn (CUDA joins the CPU where it exists)."""
    return torch.device(request.param)
