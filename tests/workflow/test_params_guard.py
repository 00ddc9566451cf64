"""params.yaml is data: the real Snakemake, given a hostile params.yaml, stops at the project's
loader with one line naming file:line, before Snakemake's own loader could run a template."""

from __future__ import annotations

import re

import pytest
from shrink import copy_repo
from smk import snakemake


@pytest.fixture(scope="module")
def repo(tmp_path_factory):
    return copy_repo(tmp_path_factory.mktemp("guard") / "repo")


def error_lines(proc) -> list[str]:
    return [line for line in proc.stderr.splitlines() if line.startswith(("error:", "Error", "WorkflowError"))]


def test_a_templated_params_yaml_runs_nothing(repo, tmp_path):
    marker = tmp_path / "pwned"
    shipped = (repo / "params.yaml").read_text()
    payload = f"__use_yte__: true\nowned: ?__import__('pathlib').Path({str(marker)!r}).touch()\n"
    (repo / "params.yaml").write_text(payload + shipped)
    try:
        proc = snakemake(repo, "-n", "all", check=False)
    finally:
        (repo / "params.yaml").write_text(shipped)
    assert proc.returncode != 0
    assert not marker.exists(), "a template in params.yaml ran"
    assert error_lines(proc) == [
        "error: params.yaml:1: __use_yte__: templating is not allowed; this file is data, not code"
    ]


@pytest.mark.parametrize(
    "edit, expect",
    [
        (lambda s: s.replace("\n  ", "\n\t", 1), r"error: params.yaml:\d+: invalid YAML \(found character '\\t'"),
        (lambda s: "", "error: params.yaml: empty file; expected a mapping at the top level"),
        (lambda s: s + 'bad: "\udcff"\n', r"error: params.yaml:\d+: invalid UTF-8 \(byte 0xff\)"),
        (
            lambda s: "x: !!python/name:os.system\n" + s,
            r"error: params.yaml:1: invalid YAML \(could not determine a constructor",
        ),
    ],
)
def test_a_broken_params_yaml_is_one_line_naming_the_file_and_line(repo, edit, expect):
    shipped = (repo / "params.yaml").read_text()
    (repo / "params.yaml").write_bytes(edit(shipped).encode("utf-8", "surrogateescape"))
    try:
        proc = snakemake(repo, "-n", "all", check=False)
    finally:
        (repo / "params.yaml").write_text(shipped)
    assert proc.returncode != 0
    lines = error_lines(proc)
    assert len(lines) == 1 and re.match(expect, lines[0]), proc.stderr[-2000:]
    assert "Snakefile" not in proc.stderr


def test_a_byte_order_mark_is_accepted(repo):
    shipped = (repo / "params.yaml").read_text()
    (repo / "params.yaml").write_text("\ufeff" + shipped)
    try:
        proc = snakemake(repo, "-n", "all", check=False)
    finally:
        (repo / "params.yaml").write_text(shipped)
    assert proc.returncode == 0, proc.stderr[-2000:]
