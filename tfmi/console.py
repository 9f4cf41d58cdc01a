"""What tfmi's programs (the ``tfmi`` command, the trainer, the tools) tell their user on
stderr, so that stdout keeps the results alone:

- ``Progress`` (``progress``: the plain one): progress lines, printed at once (on stdout
  instead for a tool whose output is its log); a quiet one prints nothing;
  ``logging_handler`` sends a logger's records the same way.
- ``run_reporting_errors`` and ``fail``: bad input (a ``ValueError`` or ``OSError``, see
  tfmi.errors) ends the program in one "error: ..." line and exit status 2, not a
  traceback (TFMI_DEBUG=1 shows it); Ctrl-C in one line and status 130.
- ``native_stderr_captured``: what native code (TensorFlow's start-up) writes to file
  descriptor 2 held back, and only what the caller keeps of it passed on.

Standard library only: every layer may use it.
"""

import contextlib
import logging
import os
import sys
import tempfile

__all__ = ["Progress", "progress", "run_reporting_errors", "fail", "native_stderr_captured", "STOPPED"]

STOPPED = "stopped by SIGINT (Ctrl-C)."


class Progress:
    """Progress lines: ``Progress("tfmi: ")("reading a.npy")`` prints "tfmi: reading a.npy"
    on stderr (on stdout with ``stdout=True``), flushed; with ``quiet=True`` nothing."""

    def __init__(self, prefix="", quiet=False, stdout=False):
        self.prefix, self.quiet, self.stdout = prefix, quiet, stdout

    def __call__(self, message):
        if not self.quiet:
            print(f"{self.prefix}{message}", file=sys.stdout if self.stdout else sys.stderr, flush=True)

    def logging_handler(self):
        """A ``logging.Handler`` that prints each record's message as a progress line."""
        return _ProgressHandler(self)


class _ProgressHandler(logging.Handler):
    def __init__(self, progress):
        super().__init__()
        self.progress = progress

    def emit(self, record):
        try:
            self.progress(self.format(record))
        except Exception:  # noqa: BLE001  (logging's rule: a handler never raises)
            self.handleError(record)


progress = Progress()


def fail(message, status=2):
    """Ends the program: ``message`` on stderr, exit ``status``, no traceback.
    TensorFlow's logger is quieted first: its complaints as objects are torn down would
    only bury the message."""
    logging.getLogger("tensorflow").setLevel(logging.ERROR)
    print(message, file=sys.stderr, flush=True)
    sys.exit(status)


def run_reporting_errors(run, *args, errors=(ValueError, OSError), describe=str, stopped=STOPPED):
    """Returns ``run(*args)``. One of ``errors`` ends the program with the line
    "error: " + ``describe(error)`` and the error's ``exit_status`` (default 2);
    TFMI_DEBUG=1 re-raises it with its traceback. Ctrl-C ends it with the line ``stopped``
    and status 130 (``stopped=None`` leaves KeyboardInterrupt to the caller)."""
    try:
        return run(*args)
    except errors as error:
        if os.environ.get("TFMI_DEBUG"):
            raise
        fail(f"error: {describe(error)}", getattr(error, "exit_status", 2))
    except KeyboardInterrupt:
        if stopped is None:
            raise
        fail(stopped, 130)


@contextlib.contextmanager
def native_stderr_captured(passed_on):
    """What is written to file descriptor 2 in the block (by native code too: TensorFlow
    logs at import, before it reads TF_CPP_MIN_LOG_LEVEL) goes to a temporary file; after
    the block, ``passed_on(written, failed)`` (the bytes written, whether the block
    raised) is written to stderr."""
    sys.stderr.flush()
    saved = os.dup(2)
    failed = False
    with tempfile.TemporaryFile() as captured:
        os.dup2(captured.fileno(), 2)
        try:
            yield
        except Exception:
            failed = True
            raise
        finally:
            sys.stderr.flush()
            os.dup2(saved, 2)
            os.close(saved)
            captured.seek(0)
            os.write(2, passed_on(captured.read(), failed))
