"""Test configuration: one torch thread, float64 by default where asked, hypothesis profiles."""

import os
import sys
from pathlib import Path

import pytest
import torch
from hypothesis import HealthCheck, settings

# importlib import mode allows equal test basenames in different folders but does not
# put tests/ on sys.path; shared test helpers live there.
sys.path.insert(0, str(Path(__file__).parent))

# Two contending threads on a 2-core machine make small steps ~20x slower.
torch.set_num_threads(1)

settings.register_profile(
    "ci", max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)
settings.register_profile(
    "thorough", max_examples=500, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))


@pytest.fixture
def float64():
    """Run a test with float64 as torch's default dtype, restoring it afterwards."""
    previous = torch.get_default_dtype()
    torch.set_default_dtype(torch.float64)
    yield
    torch.set_default_dtype(previous)
