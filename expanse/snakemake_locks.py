"""Keep concurrent Snakemake runs' locks: a run that ends releases only its own.

Since Snakemake 9.17.0 (snakemake/snakemake#4012, still so in 9.27.1), a run that ends removes its
own lock files and then the whole .snakemake/locks directory (FilePersistence._delete_locks), so
every other run still working in the same directory loses its locks, and a third run may build
their outputs at the same time. install() puts back the behaviour of Snakemake <= 9.16: at the end
of a run, remove only the lock files this run wrote; `snakemake --unlock` still removes all locks.

It patches a Snakemake internal, so it refuses any Snakemake but the one it was written for.
rules/common.smk installs it while the Snakefile is parsed, before Snakemake creates its
persistence and takes or releases any lock.
"""

from __future__ import annotations

import os

import snakemake
from snakemake.persistence.file import FilePersistence

from expanse.errors import StateError

WRITTEN_FOR = "9.27.1"

# 9.27.1's: removes this run's lock files, then rmtree(.snakemake/locks), everybody's locks.
_remove_all_locks = FilePersistence._delete_locks


def _release_own_locks(self: FilePersistence) -> None:
    """End of a run (PersistenceBase.lock's finally -> unlock): remove only this run's lock files."""
    for lockfile in self._lockfile.values():
        try:
            os.remove(lockfile)
        except FileNotFoundError:
            pass
    self._lockfile.clear()


def _unlock_all(self: FilePersistence) -> None:
    """`snakemake --unlock` (Workflow.unlock -> cleanup_locks): remove every lock, as upstream does."""
    _remove_all_locks(self)


def install() -> None:
    """Patch Snakemake's FilePersistence: a run that ends removes only its own locks; a StateError when
    the installed Snakemake is not WRITTEN_FOR."""
    if snakemake.__version__ != WRITTEN_FOR:
        raise StateError(
            f"expanse/snakemake_locks.py patches Snakemake {WRITTEN_FOR}'s lock release but Snakemake "
            f"{snakemake.__version__} is installed: check whether a finished run still deletes "
            ".snakemake/locks (snakemake/snakemake#4012), then update WRITTEN_FOR or remove the patch"
        )
    FilePersistence._delete_locks = _release_own_locks
    FilePersistence.cleanup_locks = _unlock_all
