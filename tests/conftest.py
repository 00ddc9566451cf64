import copy
import os
import shutil
import sys
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(Path(__file__).parent))
sys.path.insert(0, str(Path(__file__).parent / "workflow"))  # smk: the built fixture runs Snakemake


def checkpoint_tensors(path) -> dict:
    """Every tensor of a checkpoint directory (single-file or sharded safetensors), by name."""
    from safetensors import safe_open

    out = {}
    for f in sorted(Path(path).glob("*.safetensors")):
        with safe_open(str(f), "pt") as h:
            out.update({k: h.get_tensor(k) for k in h.keys()})
    return out


@pytest.fixture(scope="session")
def shipped_params() -> dict:
    return yaml.safe_load((REPO / "params.yaml").read_text())


@pytest.fixture
def params(shipped_params) -> dict:
    """A fresh, mutable copy of the shipped params.yaml."""
    return copy.deepcopy(shipped_params)


# ---- the shrunk tiny graph (6 languages, 3 families, 2 online iterations), built once per session
@pytest.fixture(scope="session")
def built(tmp_path_factory, shipped_params):
    """EXPANSE_BUILT=DIR reuses a graph a previous session built (while working on the tests)."""
    from shrink import copy_repo, shrink_params
    from smk import snakemake

    if os.environ.get("EXPANSE_BUILT"):
        root = Path(os.environ["EXPANSE_BUILT"])
    else:
        root = copy_repo(tmp_path_factory.mktemp("tiny") / "repo", shrink_params(shipped_params))
    snakemake(root, "-c2", "all")
    return root


@pytest.fixture
def built_copy(built, tmp_path):
    """A copy of the built repo (mtimes and Snakemake metadata kept) to edit freely."""
    dest = tmp_path / "repo"
    shutil.copytree(built, dest, symlinks=True)
    return dest
