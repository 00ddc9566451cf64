"""The shrunk tiny graph (6 languages, 3 families, 2 online iterations), built once per session
with Snakemake for real, and copies of it to edit."""

from __future__ import annotations

import shutil

import pytest
import yaml

from shrink import copy_repo, shrink_params
from smk import snakemake


@pytest.fixture(scope="session")
def built(tmp_path_factory, shipped_params):
    root = copy_repo(tmp_path_factory.mktemp("tiny") / "repo", shrink_params(shipped_params))
    snakemake(root, "-c2", "all")
    return root


@pytest.fixture
def built_copy(built, tmp_path):
    """A copy of the built repo (mtimes and Snakemake metadata kept) to edit freely."""
    dest = tmp_path / "repo"
    shutil.copytree(built, dest, symlinks=True)
    return dest


def params_of(root):
    return yaml.safe_load((root / "params.yaml").read_text())


def write_params(root, params):
    (root / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False, allow_unicode=True))
