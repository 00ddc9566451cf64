"""The code fingerprint of a job's entry (expanse/fingerprint.py) on a temporary package tree: the
modules it reaches (lazy, relative, string-named, `python -m`), what an edit changes, cycles, the
parse cache; the Snakefile's check that every script rule passes it; and dvc.lock entries filled
with module deps exactly as DVC records them."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from expanse import fingerprint as fp
from expanse.errors import RuleError

TREE = {
    "scripts/job.py": "import json\nfrom expanse import a\nfrom expanse.logs import run\n",
    "scripts/other.py": "from expanse import unused\n",
    "expanse/a.py": "from expanse.b import f\n\n\n"
    "def g():\n    from . import c  # lazy: still code the job may run\n    return c\n",
    "expanse/b.py": "import expanse.a  # a cycle\n\n\ndef f():\n    from expanse.sub import x\n    return x\n",
    "expanse/c.py": "C = 1\n",
    "expanse/logs.py": "from typing import TYPE_CHECKING\n\nif TYPE_CHECKING:\n"
    "    from expanse import typing_only\nelse:\n    from expanse import registry\n\n\n"
    "def run():\n    pass\n",
    "expanse/registry.py": "import importlib\n\nNAMES = {'p': 'expanse.plug'}\nARGV = ['-m', 'expanse.tool', 'SPEC']\n"
    "DOC = 'expanse.not_a_module is only a string'\n",
    "expanse/plug.py": "P = 1\n",
    "expanse/tool/__init__.py": "",
    "expanse/tool/__main__.py": "from .impl import main\n",
    "expanse/tool/impl.py": "def main():\n    pass\n",
    "expanse/sub/__init__.py": "from .d import x\n",
    "expanse/sub/d.py": "from ..e import y\n\nx = y\n",
    "expanse/e.py": "y = 2\n",
    "expanse/typing_only.py": "T = 1\n",
    "expanse/unused.py": "U = 1\n",
}
JOB_MODULES = [
    "expanse/a.py",
    "expanse/b.py",
    "expanse/c.py",
    "expanse/e.py",
    "expanse/logs.py",
    "expanse/plug.py",
    "expanse/registry.py",
    "expanse/sub/__init__.py",
    "expanse/sub/d.py",
    "expanse/tool/__init__.py",
    "expanse/tool/__main__.py",
    "expanse/tool/impl.py",
]


@pytest.fixture
def tree(tmp_path):
    root = tmp_path / "repo"
    for rel, text in TREE.items():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_text(text)
    return root


def edit(path: Path, text: str = "# edited\n") -> None:
    with path.open("a") as f:
        f.write(text)


def test_the_modules_an_entry_reaches(tree):
    code = fp.fingerprint("scripts/job.py", tree)
    # lazy and relative imports, packages' __init__, a submodule named in `from . import c`, a
    # module named by a string (import_module) and a package run as `python -m` (its __main__);
    # not: a TYPE_CHECKING import, a module nothing imports, the standard library
    assert code.entry == "scripts/job.py" and list(code.modules) == JOB_MODULES
    assert fp.known(code.sha256) == code
    assert code.as_dict() == {"entry": "scripts/job.py", "sha256": code.sha256, "modules": JOB_MODULES}
    # an absolute path to the entry, and a module run as `python -m`
    assert fp.fingerprint(tree / "scripts/job.py", tree) == code
    tool = fp.fingerprint("expanse.tool", tree)
    assert tool.entry == "expanse/tool/__main__.py" and tool.modules == (
        "expanse/tool/__init__.py",
        "expanse/tool/impl.py",
    )
    # an entry in another language: its content only
    (tree / "scripts/plot.R").write_text("library(expanse)\n")
    assert fp.fingerprint("scripts/plot.R", tree).modules == ()
    assert fp.is_module_name("expanse.tool") and not fp.is_module_name("scripts/job.py")
    with pytest.raises(RuleError, match=r"scripts/missing.py: no such entry under "):
        fp.fingerprint("scripts/missing.py", tree)
    with pytest.raises(RuleError, match="expanse.missing: not a module"):
        fp.fingerprint("expanse.missing", tree)


def test_an_edit_changes_the_hash_of_exactly_the_entries_that_reach_it(tree):
    job, other = fp.fingerprint("scripts/job.py", tree).sha256, fp.fingerprint("scripts/other.py", tree).sha256
    edit(tree / "expanse/e.py")  # reached through a -> b -> (lazy) sub -> (relative) d -> e
    assert fp.fingerprint("scripts/job.py", tree).sha256 != job
    assert fp.fingerprint("scripts/other.py", tree).sha256 == other
    job = fp.fingerprint("scripts/job.py", tree).sha256
    for unreached in ("expanse/unused.py", "expanse/typing_only.py"):
        edit(tree / unreached)
        assert fp.fingerprint("scripts/job.py", tree).sha256 == job
    assert fp.fingerprint("scripts/other.py", tree).sha256 != other
    edit(tree / "scripts/job.py")  # the entry itself
    assert fp.fingerprint("scripts/job.py", tree).sha256 != job


def test_a_new_import_and_a_new_module_are_followed(tree):
    before = fp.fingerprint("scripts/other.py", tree)
    (tree / "expanse/fresh.py").write_text("F = 1\n")
    assert fp.fingerprint("scripts/other.py", tree) == before
    edit(tree / "expanse/unused.py", "from expanse import fresh\n")
    assert fp.fingerprint("scripts/other.py", tree).modules == ("expanse/fresh.py", "expanse/unused.py")
    # a module that appears where an import named something else (a name in a package's __init__)
    (tree / "expanse/sub/x.py").write_text("X = 1\n")
    assert "expanse/sub/x.py" in fp.fingerprint("scripts/job.py", tree).modules


def test_the_hash_depends_on_paths_and_content_only(tree, tmp_path):
    first = fp.fingerprint("scripts/job.py", tree)
    copy = shutil.copytree(tree, tmp_path / "elsewhere")
    assert fp.fingerprint("scripts/job.py", copy) == first  # deterministic, wherever the checkout is
    # a fresh process (nothing cached) agrees
    out = subprocess.run(
        [
            sys.executable,
            "-c",
            "import sys; from expanse.fingerprint import fingerprint; "
            "print(fingerprint('scripts/job.py', sys.argv[1]).sha256)",
            str(tree),
        ],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    assert out == first.sha256
    # a file renamed changes it, even with the same content
    (copy / "expanse/c.py").rename(copy / "expanse/c2.py")
    (copy / "expanse/a.py").write_text(TREE["expanse/a.py"].replace("import c", "import c2"))
    assert fp.fingerprint("scripts/job.py", copy).sha256 != first.sha256


def test_cycles_terminate(tree):
    (tree / "expanse/c.py").write_text("from expanse import a, b, c\nimport expanse.c\n")
    assert "expanse/c.py" in fp.fingerprint("scripts/job.py", tree).modules


def test_the_parse_cache_reparses_only_edited_files(tree, monkeypatch):
    fp.fingerprint("scripts/job.py", tree)
    fp.save_cache(tree)
    assert (tree / fp.CACHE).is_file()
    edit(tree / "expanse/c.py")
    parsed = []
    real = fp.parse_imports
    monkeypatch.setattr(fp, "parse_imports", lambda data, name: parsed.append(Path(name).name) or real(data, name))
    monkeypatch.setattr(fp, "_trees", {})  # a new process: only the cache file
    code = fp.fingerprint("scripts/job.py", tree)
    assert parsed == ["c.py"] and list(code.modules) == JOB_MODULES
    # a cache file that cannot be read is no error
    (tree / fp.CACHE).write_text("{not json")
    monkeypatch.setattr(fp, "_trees", {})
    assert fp.fingerprint("scripts/job.py", tree) == code


def test_every_script_rule_must_pass_its_code_fingerprint(tree):
    from expanse.workflow_support import check_code_params

    script = str(tree / "scripts/job.py")
    good = fp.fingerprint(script, tree).sha256
    check_code_params([("job", script, good), ("all", None, None)], tree)
    with pytest.raises(RuleError, match=r"rule job: params: add code=code_fingerprint\(SCRIPT\)"):
        check_code_params([("job", script, None)], tree)
    with pytest.raises(RuleError, match="rule job: params: code is not the fingerprint of its script scripts/job.py"):
        check_code_params([("job", script, fp.fingerprint("scripts/other.py", tree).sha256)], tree)


def test_a_registry_target_string_reaches_its_module(tmp_path):
    """A registry entry "package.module:attribute" is code the registry's users may run: an edit to
    that module reruns them (expanse.registry's lazy targets)."""
    root = tmp_path / "repo"
    files = {
        "scripts/gen.py": "from expanse import backends\n",
        "expanse/__init__.py": "",
        "expanse/backends.py": "TARGETS = {'hf': 'expanse.hf_backend:Backend', 'doc': 'not.a.module: text'}\n",
        "expanse/hf_backend.py": "class Backend:\n    pass\n",
    }
    for path, text in files.items():
        (root / path).parent.mkdir(parents=True, exist_ok=True)
        (root / path).write_text(text)
    modules = fp.fingerprint("scripts/gen.py", root).modules
    assert modules == ("expanse/__init__.py", "expanse/backends.py", "expanse/hf_backend.py")
