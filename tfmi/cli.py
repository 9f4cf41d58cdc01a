"""What the command-line tools share: bad input ends in one line, not a traceback."""

import os
import sys

__all__ = ["run_reporting_errors"]


def run_reporting_errors(run, *args, errors=(ValueError, OSError)):
    """Returns ``run(*args)``; one of ``errors`` is printed as a single "error: ..." line
    on stderr and exits with status 2 (TFMI_DEBUG=1 re-raises it with its traceback)."""
    try:
        return run(*args)
    except errors as error:
        if os.environ.get("TFMI_DEBUG"):
            raise
        print(f"error: {error}", file=sys.stderr)
        sys.exit(2)
