"""The rule for errors in input a user can fix (a config, a workdir, an array, a name,
missing or corrupt data, an environment variable), whatever layer finds it:

- Every such error is a ``ValueError``: library callers catch that one class.
- ``InputError`` is the ``ValueError`` whose message is complete for a command-line user:
  it names the problem and the fix, so the trainer prints it without the
  "set TFMI_DEBUG=1" hint (a plain ValueError gets the hint). The trainer's and the
  workdir's error classes derive from it.
- Nothing else (RuntimeError, AssertionError, KeyError, FileNotFoundError, a bare
  Exception) is raised for bad input. Another class marks what is not input (a broken
  invariant, a signal); in the public entry points' modules such a ``raise`` has the
  comment ``# not input: <why>`` on the line above it (tests/test_errors.py checks this).

The programs tell such an error in one "error: ..." line with exit status 2
(``tfmi.console.run_reporting_errors``).
"""

__all__ = ["InputError"]


class InputError(ValueError):
    """Bad input, with a message that names the problem and the fix (see the module's rule)."""
