import copy
import sys
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(Path(__file__).parent))


@pytest.fixture(scope="session")
def shipped_params() -> dict:
    return yaml.safe_load((REPO / "params.yaml").read_text())


@pytest.fixture
def params(shipped_params) -> dict:
    """A fresh, mutable copy of the shipped params.yaml."""
    return copy.deepcopy(shipped_params)
