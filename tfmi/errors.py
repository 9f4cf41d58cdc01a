"""The one exception class for input a user can fix, whatever layer finds it."""

__all__ = ["InputError"]


class InputError(ValueError):
    """Bad input (a config, a workdir, missing or corrupt data, an environment variable):
    the message names the problem and the fix, so command lines print it without a
    traceback. A ValueError, so library callers can catch either."""
