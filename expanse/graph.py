"""The workflow's job graph as Snakemake plans it, the rules' function signatures, and the patch of
Snakemake's lock release: the one module of the library that uses Snakemake's internals.

The DVC generator (expanse.dvc_pipeline) and the lineage and planning report (expanse.lineage) read
the graph through this narrow surface: `load(root, targets)` plans the targets' full graph as
`snakemake --forceall -n` would, and yields a `Graph` of `Job`s, plain values (names, wildcards,
paths, resources) plus the few calls that need Snakemake's objects (a rule's param functions, its
params trigger, a job's dependencies).

Snakemake's Python API is not stable across minor versions and planning without running needs
private calls (`_workflow`, `_prepare_dag`, `_build_dag`, `_names` of a named file list). They are
all here, written against SNAKEMAKE_VERSION; tests/unit/test_graph.py fails on any other version,
so an upgrade breaks this one module, loudly, and nothing else.

Concurrent runs keep their locks (`install_lock_patch`): since Snakemake 9.17.0
(snakemake/snakemake#4012, still so in 9.27.1), a run that ends removes its own lock files and then
the whole .snakemake/locks directory (FilePersistence._delete_locks), so every other run still
working in the same directory loses its locks, and a third run may build their outputs at the same
time. The patch puts back the behaviour of Snakemake <= 9.16: at the end of a run, remove only the
lock files this run wrote; `snakemake --unlock` still removes all locks. It refuses any Snakemake
but SNAKEMAKE_VERSION. rules/common.smk installs it while the Snakefile is parsed, before Snakemake
creates its persistence and takes or releases any lock.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

SNAKEMAKE_VERSION = "9.27.1"


def snakemake_version() -> str:
    """The installed Snakemake's version."""
    import snakemake

    return snakemake.__version__


def stage_name_of(rule: str, wildcards: dict) -> str:
    """A job's name: rule and wildcard values (the scale is the pipeline file's), with the characters
    DVC refuses in stage names replaced (lineage names jobs so; a DVC stage of one job is named so)."""
    values = [str(v) for k, v in wildcards.items() if k != "scale"]
    return "-".join([rule, *values]).replace(".", "_")


def _named(files) -> list[tuple[str | None, str]]:
    """A Snakemake named file list as (name, path) pairs (name None for an unnamed one)."""
    names = {}
    for name, (start, end) in files._names.items():
        for i in range(start, start + 1 if end is None else end):
            names[i] = name
    return [(names.get(i), str(f)) for i, f in enumerate(files)]


@dataclass(eq=False)
class Job:
    """One planned job. Paths are as Snakemake has them (relative to the workflow's root unless a
    rule made them absolute); `script`, `rule_file` and `conda_env` are absolute."""

    name: str
    rule: str
    rule_file: Path
    script: Path | None
    conda_env: Path | None
    wildcards: dict[str, str]
    inputs: list[tuple[str | None, str]]  # (input name or None, path)
    outputs: list[tuple[str | None, str, bool]]  # (output name or None, path, is a directory())
    log: list[str]
    benchmark: str | None
    resources: dict[str, Any]
    rule_params: dict[str, Any]  # the rule's params as declared: values or functions of the wildcards
    _job: Any = field(repr=False)

    @property
    def input_paths(self) -> list[str]:
        return [p for _, p in self.inputs]

    @property
    def output_paths(self) -> list[str]:
        return [p for _, p, _ in self.outputs]

    def params(self) -> dict[str, Any]:
        """The job's params, evaluated (what its script receives)."""
        return dict(self._job.params.items())

    def call(self, function: Callable) -> Any:
        """Call a rule param function the way Snakemake does for this job (with its wildcards)."""
        return function(self._job.wildcards)


class Graph:
    """The planned jobs of a workflow (target rules, which make nothing, left out) and the globals
    its Snakefile defined."""

    def __init__(self, workflow, jobs: list):
        self._wf = workflow
        self._by_job = {j: _job(j) for j in jobs}
        self.jobs: list[Job] = list(self._by_job.values())

    @property
    def config(self) -> dict:
        """The workflow's config (params.yaml as Snakemake loaded it)."""
        return self._wf.config

    def globals(self, name: str) -> Any:
        """A global the Snakefile defined (e.g. PARAMS, the validated params)."""
        return self._wf.globals[name]

    def dependencies(self, job: Job) -> list[Job]:
        """The jobs whose outputs `job` reads, among this graph's jobs."""
        ours = {j._job: j for j in self.jobs}
        return [ours[d] for d in self._wf.dag.dependencies[job._job] if d in ours]

    def params_changed(self, job: Job) -> bool:
        """Snakemake's params trigger for the job: its params differ from those its outputs were made with."""
        return bool(self._wf.persistence.params_changed(job._job))


def _job(j) -> Job:
    from snakemake.io import is_flagged

    rule = j.rule
    rule_dir = Path(rule.snakefile).parent
    return Job(
        name=stage_name_of(rule.name, j.wildcards_dict),
        rule=rule.name,
        rule_file=Path(rule.snakefile).resolve(),
        script=(rule_dir / rule.script).resolve() if rule.script else None,
        conda_env=(rule_dir / str(rule.conda_env)).resolve() if rule.conda_env else None,
        wildcards={k: str(v) for k, v in j.wildcards_dict.items()},
        inputs=_named(j.input),
        outputs=[(n, p, bool(is_flagged(f, "directory"))) for (n, p), f in zip(_named(j.output), j.output)],
        log=[str(f) for f in j.log],
        benchmark=str(j.benchmark) if j.benchmark else None,
        resources=dict(j.resources.items()),
        rule_params=dict(rule.params.items()) if hasattr(rule.params, "items") else {},
        _job=j,
    )


@contextmanager
def load(root: Path, targets: list[str]) -> Iterator[Graph]:
    """The targets' full graph, planned as `snakemake --forceall -n` would (no lock taken, nothing
    run), of the workflow whose Snakefile is in `root`."""
    from snakemake.api import SnakemakeApi
    from snakemake.settings.types import DAGSettings, OutputSettings, Quietness, ResourceSettings

    api = SnakemakeApi(OutputSettings(quiet={Quietness.ALL}))
    api.__enter__()
    try:
        wf_api = api.workflow(resource_settings=ResourceSettings(cores=1), snakefile=root / "Snakefile", workdir=root)
        wf_api.dag(DAGSettings(targets=set(targets), forceall=True))
        wf = wf_api._workflow
        wf._prepare_dag(forceall=True, ignore_incomplete=True, lock_warn_only=True, nolock=True)
        wf._build_dag()
        yield Graph(wf, [j for j in wf.dag.jobs if j.output])  # target rules have no outputs
    finally:
        api.__exit__(None, None, None)


# ------------------------------------------------------------------ rule functions
def bind_signature(func):
    """`func`, with its parameters attached the way Snakemake's own function wrappers attach them
    (snakemake.common.overwrite_function_params): Snakemake then reads them from the function
    instead of computing inspect.signature(func) each time it calls it, two or three times per job
    and function. What Snakemake passes the function is unchanged: the parameters are its own."""
    import inspect

    from snakemake.common import overwrite_function_params

    overwrite_function_params(func, inspect.signature(func).parameters)
    return func


def bind_signatures(rules) -> int:
    """bind_signature on every Python function among the rules' inputs and params (plain, or wrapped
    by a flag such as unpack()), and on Resource.evaluate, the bound method through which Snakemake
    calls every resource function. Returns how many of the rules' functions."""
    import inspect
    import types

    from snakemake.common import overwrite_function_params
    from snakemake.io import AnnotatedString, _IOFile
    from snakemake.resources import Resource

    # set on the function, read through the bound method: the bound method's own parameters
    overwrite_function_params(Resource.evaluate, inspect.signature(Resource("_", 0).evaluate).parameters)
    seen = set()
    for rule in rules:
        for item in [*rule.input, *rule.params]:
            if isinstance(item, _IOFile):
                item = item._file
            if isinstance(item, AnnotatedString):
                item = item.callable
            if isinstance(item, types.FunctionType) and id(item) not in seen:
                seen.add(id(item))
                bind_signature(item)
    return len(seen)


# ------------------------------------------------------------------ the lock release
def install_lock_patch() -> None:
    """Patch Snakemake's FilePersistence: a run that ends removes only its own locks; `--unlock`
    removes every lock, as upstream does. A StateError when the installed Snakemake is not
    SNAKEMAKE_VERSION. Installing twice changes nothing."""
    import os

    import snakemake
    from snakemake.persistence.file import FilePersistence

    from expanse.errors import StateError

    if snakemake.__version__ != SNAKEMAKE_VERSION:
        raise StateError(
            f"expanse/graph.py patches Snakemake {SNAKEMAKE_VERSION}'s lock release but Snakemake "
            f"{snakemake.__version__} is installed: check whether a finished run still deletes "
            ".snakemake/locks (snakemake/snakemake#4012), then update SNAKEMAKE_VERSION or remove the patch"
        )
    if getattr(FilePersistence, "_expanse_remove_all_locks", None) is not None:
        return
    # 9.27.1's: removes this run's lock files, then rmtree(.snakemake/locks), everybody's locks
    remove_all_locks = FilePersistence._delete_locks

    def release_own_locks(self) -> None:
        """End of a run (PersistenceBase.lock's finally -> unlock): remove only this run's lock files."""
        for lockfile in self._lockfile.values():
            try:
                os.remove(lockfile)
            except FileNotFoundError:
                pass
        self._lockfile.clear()

    def unlock_all(self) -> None:
        """`snakemake --unlock` (Workflow.unlock -> cleanup_locks): remove every lock."""
        remove_all_locks(self)

    FilePersistence._expanse_remove_all_locks = remove_all_locks
    FilePersistence._delete_locks = release_own_locks
    FilePersistence.cleanup_locks = unlock_all
