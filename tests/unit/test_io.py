"""Atomic writes give artifacts the modes the umask asks for (a shared filesystem or DVC cache)."""

import os
import stat

import polars as pl
import pytest

from expanse.io import atomic_path, write_json, write_parquet, write_text


@pytest.fixture
def umask():
    """Set the process umask for one test and put the old one back."""
    old = os.umask(0o022)
    os.umask(old)
    yield os.umask
    os.umask(old)


def _mode(path):
    return stat.S_IMODE(os.stat(path).st_mode)


@pytest.mark.parametrize(
    "mask, file_mode, dir_mode", [(0o022, 0o644, 0o755), (0o002, 0o664, 0o775), (0o077, 0o600, 0o700)]
)
def test_atomic_writes_respect_the_umask(tmp_path, umask, mask, file_mode, dir_mode):
    umask(mask)
    write_parquet(pl.DataFrame({"a": [1]}), tmp_path / "t.parquet")
    write_json({"a": 1}, tmp_path / "t.json")
    write_text("a\n", tmp_path / "t.txt")
    with atomic_path(tmp_path / "ckpt", directory=True) as d:
        (d / "model.safetensors").write_bytes(b"x")
    with atomic_path(tmp_path / "f.bin") as f:
        f.write_bytes(b"x")
    for name in ("t.parquet", "t.json", "t.txt", "f.bin", "ckpt/model.safetensors"):
        assert _mode(tmp_path / name) == file_mode, name
    assert _mode(tmp_path / "ckpt") == dir_mode
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ckpt", "f.bin", "t.json", "t.parquet", "t.txt"]


def test_atomic_path_replaces_an_existing_directory_and_cleans_up_on_failure(tmp_path):
    with atomic_path(tmp_path / "ckpt", directory=True) as d:
        (d / "a").write_text("1")
    with atomic_path(tmp_path / "ckpt", directory=True) as d:
        (d / "b").write_text("2")
    assert [p.name for p in (tmp_path / "ckpt").iterdir()] == ["b"]
    with pytest.raises(RuntimeError):
        with atomic_path(tmp_path / "ckpt", directory=True) as d:
            (d / "c").write_text("3")
            raise RuntimeError("killed")
    with pytest.raises(RuntimeError):
        with atomic_path(tmp_path / "x.json") as f:
            f.write_text("{")
            raise RuntimeError("killed")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ckpt"]
    assert [p.name for p in (tmp_path / "ckpt").iterdir()] == ["b"]
