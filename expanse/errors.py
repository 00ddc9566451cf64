"""Errors whose message is one line naming the file, line or params key and what is wrong."""


class ExpanseError(Exception):
    """Base class: str(error) is the one-line message shown to the user."""


class ConfigError(ExpanseError):
    """params.yaml (or a --config override) is invalid."""


class DataError(ExpanseError):
    """An input data file is invalid."""


class StateError(ExpanseError):
    """The workspace is not in the state a command needs (a stale pipeline, jobs left to run)."""


class UnknownNameError(ConfigError, KeyError):
    """A name that is not in its registry (generation backend, arbiter, judge, merge method). A KeyError
    too, for callers that look names up like keys; str() is the plain message, unquoted."""

    def __str__(self) -> str:
        return str(self.args[0]) if self.args else ""


class MergeError(ExpanseError):
    """Checkpoints that cannot be merged (not safetensors, shapes or tokenizers that differ,
    non-finite values) or a merge method's params it does not take."""


class RuleError(ExpanseError):
    """A rule of the workflow (Snakefile, rules/*.smk) is defined wrong: a script or module it names
    does not exist, a resource SLURM would get wrong, a missing code param."""
