"""The torch settings a training process starts with."""

import pytest
import torch

from expanse.training.trainers import _setup


@pytest.fixture
def torch_state():
    saved = (
        torch.get_num_threads(),
        torch.are_deterministic_algorithms_enabled(),
        torch.is_deterministic_algorithms_warn_only_enabled(),
        torch.utils.deterministic.fill_uninitialized_memory,
    )
    yield
    threads, mode, warn_only, fill = saved
    torch.set_num_threads(threads)
    torch.use_deterministic_algorithms(mode, warn_only=warn_only)
    torch.utils.deterministic.fill_uninitialized_memory = fill


@pytest.mark.skipif(torch.cuda.is_available(), reason="the CPU settings")
def test_cpu_training_is_deterministic_without_filling_scratch_buffers(torch_state):
    torch.utils.deterministic.fill_uninitialized_memory = True
    assert _setup(1) is False
    assert torch.get_num_threads() == 1
    assert torch.are_deterministic_algorithms_enabled()
    # the NaN fill of every torch.empty() costs time and changes no weight (trl's scratch buffers are
    # written before they are read)
    assert torch.utils.deterministic.fill_uninitialized_memory is False
