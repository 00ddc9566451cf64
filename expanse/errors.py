"""Errors whose message is one line naming the file, line or params key and what is wrong."""


class ExpanseError(Exception):
    """Base class: str(error) is the one-line message shown to the user."""


class ConfigError(ExpanseError):
    """params.yaml (or a --config override) is invalid."""


class DataError(ExpanseError):
    """An input data file is invalid."""
