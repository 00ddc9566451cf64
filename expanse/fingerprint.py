"""The code a job runs: its entry (a rule's script, or a module run as `python -m`) and every project
module the entry imports, transitively, found by reading the source (never importing it).

Scripts are thin, so the code of a job lives in the package; Snakemake's `code` trigger sees the
script file only and DVC sees the deps it is given. A rule passes its entry's fingerprint as a
param (Snakemake reruns the job when it changes) and the dvc.yaml generator lists the modules as
the stage's deps (DVC reruns the stage when one changes), so an edit to a module reruns exactly
the jobs whose entry reaches it.

What counts as an import of a project module (a file under one of PACKAGES at the root):
- `import a.b`, `from a.b import c` (c too when it is a submodule), relative imports, at any depth:
  an import inside a function is code the job may run; the packages' `__init__.py` on the way;
- a string constant that names a project module (`importlib.import_module(NAMES[x])`, a
  subprocess `python -m expanse.training`): the module, and the package's `__main__.py`;
- not: `if TYPE_CHECKING:` blocks, other packages, data files the code reads.

Dynamic dispatch makes this an over-approximation: a job whose config picks one backend of two
depends on both.

Files are read under the given root, not from wherever the package is installed: a copy of the
workflow is fingerprinted with its own code.
"""

from __future__ import annotations

import ast
import hashlib
import json
import os
import re
from dataclasses import dataclass

from expanse.errors import RuleError

PACKAGES = ("expanse",)
CACHE = os.path.join(".expanse", "imports.json")  # under the root; git and DVC ignore .expanse/
_CACHE_VERSION = 2
_DOTTED = re.compile(r"^[A-Za-z_]\w*(\.[A-Za-z_]\w*)+$")
# a registry's lazy target, "package.module:attribute": the module is code its users may run
_TARGET = re.compile(r"^([A-Za-z_]\w*(?:\.[A-Za-z_]\w*)+):[A-Za-z_]\w*$")


@dataclass(frozen=True)
class Code:
    """An entry and the project modules it reaches (paths relative to the root, sorted, without the
    entry itself); `sha256` is over the entry and the modules: each one's path and content hash."""

    entry: str
    modules: tuple[str, ...]
    sha256: str

    def as_dict(self) -> dict:
        return {"entry": self.entry, "sha256": self.sha256, "modules": list(self.modules)}


def _stamp(path: str) -> tuple:
    st = os.stat(path)
    return st.st_size, st.st_mtime_ns, st.st_ino


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def parse_imports(source: bytes | str, filename: str = "<source>") -> list:
    """[[module, level, names] of every import statement, sorted dotted string constants] of a
    module's source, `if TYPE_CHECKING:` blocks left out."""
    imports: list = []
    strings: set[str] = set()
    todo: list[ast.AST] = [ast.parse(source, filename=filename)]
    while todo:
        node = todo.pop()
        if isinstance(node, ast.If) and _is_type_checking(node.test):
            todo.extend(node.orelse)
            continue
        if isinstance(node, ast.Import):
            imports.extend([a.name, 0, []] for a in node.names)
        elif isinstance(node, ast.ImportFrom):
            imports.append([node.module or "", node.level, [a.name for a in node.names]])
        elif isinstance(node, ast.Constant) and isinstance(node.value, str):
            if _DOTTED.match(node.value):
                strings.add(node.value)
            elif m := _TARGET.match(node.value):
                strings.add(m.group(1))
        todo.extend(ast.iter_child_nodes(node))
    return [imports, sorted(strings)]


class _Tree:
    """One project root as this process has read it. Parsing is most of the cost (~0.2 s for the
    package) and every Snakefile parse fingerprints every rule's script, so: each file's imports are
    kept per process (by size, mtime, inode) and on disk (by content, `save_cache`), a plan parses
    only the files edited since the last one; module lookups are kept until a package directory
    changes (a file added, removed or renamed)."""

    def __init__(self, root: str, packages: tuple[str, ...]):
        self.root, self.packages = root, packages
        self.files: dict[str, tuple] = {}  # rel -> (stamp, sha256, imports, strings)
        self.layout: tuple = ()
        self.lookups: dict[tuple[str, bool], tuple[str, ...] | None] = {}
        self.reached_by: dict[str, tuple[tuple, tuple[str, ...]]] = {}
        self.disk: dict | None = None
        self.dirty = False

    # ---- package layout
    def check_layout(self) -> None:
        dirs = []
        todo = [os.path.join(self.root, p) for p in self.packages]
        while todo:
            d = todo.pop()
            try:
                dirs.append((d, os.stat(d).st_mtime_ns))
                todo += [
                    e.path
                    for e in os.scandir(d)
                    if e.is_dir() and e.name != "__pycache__" and not e.name.startswith(".")
                ]
            except OSError:
                continue
        layout = tuple(sorted(dirs))
        if layout != self.layout:
            self.layout, self.lookups, self.reached_by = layout, {}, {}

    def lookup(self, dotted: str, main: bool = False) -> tuple[str, ...] | None:
        """The files importing `dotted` runs (its packages' `__init__.py`, then the module; with
        `main`, a package's `__main__.py`); None when it names no project module."""
        key = (dotted, main)
        if key not in self.lookups:
            self.lookups[key] = self._lookup(dotted, main)
        return self.lookups[key]

    def _lookup(self, dotted: str, main: bool) -> tuple[str, ...] | None:
        parts = dotted.split(".")
        if parts[0] not in self.packages:
            return None
        out = []
        for i in range(len(parts)):
            rel = "/".join(parts[: i + 1])
            last = i == len(parts) - 1
            if os.path.isdir(os.path.join(self.root, rel)):
                for name in ("__init__.py", *(("__main__.py",) if last and main else ())):
                    if os.path.isfile(os.path.join(self.root, rel, name)):
                        out.append(f"{rel}/{name}")
            elif last and os.path.isfile(os.path.join(self.root, rel + ".py")):
                out.append(rel + ".py")
            else:
                return None
        return tuple(out)

    def module_name(self, rel: str) -> tuple[str, bool] | None:
        """(dotted name, whether a package's __init__) of a file under a project package."""
        parts = rel[:-3].split("/") if rel.endswith(".py") else []
        if not parts or parts[0] not in self.packages:
            return None
        if parts[-1] == "__init__":
            return ".".join(parts[:-1]), True
        return ".".join(parts), False

    # ---- files
    def _disk_entries(self) -> dict:
        if self.disk is None:
            self.disk = {}
            try:
                with open(os.path.join(self.root, CACHE), encoding="utf-8") as f:
                    data = json.load(f)
                if isinstance(data, dict) and data.get("version") == _CACHE_VERSION:
                    self.disk = data["entries"]
            except (OSError, ValueError, KeyError):
                pass
        return self.disk

    def file(self, rel: str) -> tuple:
        """(stamp, sha256 of the content, imports, strings) of a file (an entry that is no Python
        file imports nothing)."""
        path = os.path.join(self.root, rel)
        stamp = _stamp(path)
        hit = self.files.get(rel)
        if hit is not None and hit[0] == stamp:
            return hit
        with open(path, "rb") as f:
            data = f.read()
        digest = hashlib.sha256(data).hexdigest()
        entries = self._disk_entries()
        parsed = entries.get(digest) if rel.endswith(".py") else [[], []]
        if parsed is None:
            parsed = entries[digest] = parse_imports(data, path)
            self.dirty = True
        self.files[rel] = (stamp, digest, *parsed)
        return self.files[rel]

    def reached(self, rel: str) -> tuple[str, ...]:
        """The project files one file's imports (and module-naming strings) run."""
        stamp, _, imports, strings = self.file(rel)
        hit = self.reached_by.get(rel)
        if hit is not None and hit[0] == stamp:
            return hit[1]
        me = self.module_name(rel)
        out: list[str] = []
        for module, level, names in imports:
            if level:
                if me is None:
                    continue
                name, is_pkg = me
                base = name.split(".") if is_pkg else name.split(".")[:-1]
                if level > len(base):
                    continue
                base = base[: len(base) - level + 1]
                module = ".".join([*base, *([module] if module else [])])
            found = self.lookup(module)
            if found is None:
                continue
            out += found
            for n in names:
                out += (self.lookup(f"{module}.{n}") if n != "*" else None) or ()
        for s in strings:
            out += self.lookup(s, main=True) or ()
        self.reached_by[rel] = (stamp, tuple(dict.fromkeys(out)))
        return self.reached_by[rel][1]

    def save(self) -> None:
        if not self.dirty or self.disk is None:
            return
        used = {f[1] for f in self.files.values()}
        if len(self.disk) > 4 * max(len(used), 100):  # old versions pile up: keep the files' current ones
            self.disk = {k: v for k, v in self.disk.items() if k in used}
        path = os.path.join(self.root, CACHE)
        try:
            os.makedirs(os.path.dirname(path), exist_ok=True)
            tmp = f"{path}.{os.getpid()}.tmp"
            with open(tmp, "w", encoding="utf-8") as f:
                json.dump({"version": _CACHE_VERSION, "entries": self.disk}, f, sort_keys=True)
            os.replace(tmp, path)
            self.dirty = False
        except OSError:  # a read-only checkout: the next process parses again
            pass


_trees: dict[str, _Tree] = {}
_known: dict[str, Code] = {}  # sha256 -> Code, every fingerprint this process computed


def _tree(root) -> _Tree:
    root = os.path.abspath(root)
    if root not in _trees:
        _trees[root] = _Tree(root, PACKAGES)
    return _trees[root]


def is_module_name(entry) -> bool:
    """Whether an entry is a dotted module name (run as `python -m`), not a file path."""
    text = os.fspath(entry)
    return bool(_DOTTED.match(text)) and not text.endswith(".py")


def entry_of(root, entry) -> str:
    """The path relative to root of an entry: a script path (absolute, or relative to the root), or
    a dotted module name run as `python -m` (a package's `__main__.py`). An entry that is neither
    is a RuleError (a rule's code_fingerprint names it)."""
    tree = _tree(root)
    text = os.fspath(entry)
    if is_module_name(text):
        files = tree.lookup(text, main=True)
        if not files:
            raise RuleError(f"{text}: not a module of {', '.join(PACKAGES)} under {tree.root}")
        return files[-1]
    path = os.path.normpath(os.path.join(tree.root, text))
    rel = os.path.relpath(path, tree.root)
    if rel.startswith(".." + os.sep) or not os.path.isfile(path):
        raise RuleError(f"{path}: no such entry under {tree.root}")
    return rel.replace(os.sep, "/")


def fingerprint(entry, root) -> Code:
    """The Code of `entry` (see entry_of) under the project `root`."""
    tree = _tree(root)
    tree.check_layout()
    rel = entry_of(root, entry)
    seen = {rel}
    todo = [rel]
    me = tree.module_name(rel)
    if me is not None:  # a module run as `python -m` runs its packages' __init__.py first
        todo += tree.lookup(me[0]) or ()
    while todo:
        f = todo.pop()
        seen.add(f)
        for g in tree.reached(f):
            if g not in seen:
                seen.add(g)
                todo.append(g)
    modules = sorted(seen - {rel})
    h = hashlib.sha256()
    for p in [rel, *modules]:
        h.update(f"{p}\0{tree.file(p)[1]}\n".encode())
    code = Code(rel, tuple(modules), h.hexdigest())
    _known[code.sha256] = code
    return code


def known(sha256: str) -> Code | None:
    """The Code this process fingerprinted with that hash (how the dvc.yaml generator learns a
    job's modules from the rule's `code` param)."""
    return _known.get(sha256)


def save_cache(root) -> None:
    """Write the parsed imports of the files read under `root` to its cache file (atomically; when
    it cannot be written, the next process parses again)."""
    _tree(root).save()


# ------------------------------------------------------------------ code files for DVC
def code_file(scale: str, entry: str) -> str:
    """The file holding the fingerprint of `entry`'s code (a path relative to the root) for `scale`'s
    DVC pipeline: what its stages depend on in place of the entry and its modules."""
    from expanse import layout as L

    return L.fill(L.CODE, scale=scale, entry=entry)


def code_text(code: Code) -> str:
    """A code file's content: the entry, its modules and their hash; a function of their contents
    only (an edit that leaves a module's bytes as they were leaves it as it was)."""
    return json.dumps(code.as_dict(), indent=1, sort_keys=True) + "\n"


def write_code_files(root, scale: str, entries: list[str]) -> list[str]:
    """Write the code file of each entry (atomically) under `root`, once every entry is known to
    be one (a RuleError otherwise, with nothing written); returns their paths."""
    from expanse import contracts
    from expanse.io import write_text

    codes = {code_file(scale, entry): fingerprint(entry, root) for entry in entries}
    for rel, code in codes.items():
        contracts.check(code.as_dict(), "code", rel)
    texts = {rel: code_text(code) for rel, code in codes.items()}
    for rel, text in texts.items():
        path = os.path.join(os.fspath(root), rel)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        write_text(text, path)
    written = list(texts)
    save_cache(root)
    return written


def main(argv=None) -> int:
    """`python -m expanse.fingerprint --scale SCALE ENTRY...`: write the entries' code files (the
    `code` stage of a generated DVC pipeline runs this)."""
    import argparse
    import sys

    ap = argparse.ArgumentParser(description="Write the code files of entries (scripts, `python -m` modules).")
    ap.add_argument("--scale", required=True)
    ap.add_argument("--root", default=".")
    ap.add_argument("entries", nargs="+", metavar="ENTRY")
    args = ap.parse_args(argv)
    try:
        written = write_code_files(args.root, args.scale, args.entries)
    except RuleError as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    print(f"{len(written)} code files written")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
