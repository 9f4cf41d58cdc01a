"""tfmi.console, what every program of tfmi prints for its user: progress lines (on
stderr, or none when quiet; a logger's records the same way) and bad input in one
"error: ..." line with exit status 2 (TFMI_DEBUG=1: the traceback), Ctrl-C in one line
with 130."""

import logging

import pytest

from tfmi.console import Progress, fail, progress, run_reporting_errors


@pytest.fixture(autouse=True)
def tensorflow_log_level():
    """``fail`` quiets TensorFlow's logger for good: put its level back for the next tests."""
    logger = logging.getLogger("tensorflow")
    level = logger.level
    yield
    logger.setLevel(level)


def test_progress_lines_go_to_stderr_with_their_prefix_or_nowhere_when_quiet(capsys):
    progress("plain")
    Progress("tfmi: ")("reading a.npy")
    Progress("tfmi: ", quiet=True)("not shown")
    Progress(stdout=True)("on stdout")
    said = capsys.readouterr()
    assert said.err == "plain\ntfmi: reading a.npy\n" and said.out == "on stdout\n"


def test_a_loggers_records_become_progress_lines(capsys):
    logger = logging.getLogger("tfmi.test_console")
    handler = Progress("tfmi: ").logging_handler()
    logger.addHandler(handler)
    logger.propagate, logger.level = False, logging.INFO
    try:
        logger.info("fitting %d candidates", 3)
    finally:
        logger.removeHandler(handler)
    assert capsys.readouterr().err == "tfmi: fitting 3 candidates\n"


def bad_input(name):
    raise ValueError(f"{name}: no such column; pick one of a, b")


def test_bad_input_is_one_error_line_and_status_2(capsys, monkeypatch):
    monkeypatch.delenv("TFMI_DEBUG", raising=False)
    assert run_reporting_errors(lambda a, b: a + b, 1, 2) == 3
    with pytest.raises(SystemExit) as stop:
        run_reporting_errors(bad_input, "c")
    assert stop.value.code == 2
    assert capsys.readouterr().err == "error: c: no such column; pick one of a, b\n"


def test_an_errors_exit_status_and_description_are_its_own(capsys, monkeypatch):
    monkeypatch.delenv("TFMI_DEBUG", raising=False)

    class Diverged(ValueError):
        exit_status = 3

    def diverge():
        raise Diverged("the loss became nan")

    with pytest.raises(SystemExit) as stop:
        run_reporting_errors(diverge, describe=lambda error: f"{error}; lower the learning rate")
    assert stop.value.code == 3
    assert capsys.readouterr().err == "error: the loss became nan; lower the learning rate\n"


def test_tfmi_debug_shows_the_traceback_and_other_errors_pass(monkeypatch):
    monkeypatch.setenv("TFMI_DEBUG", "1")
    with pytest.raises(ValueError, match="no such column"):
        run_reporting_errors(bad_input, "c")
    monkeypatch.delenv("TFMI_DEBUG")
    with pytest.raises(KeyError):  # not input: left to the caller
        run_reporting_errors(lambda: {}["x"])


def test_ctrl_c_is_one_line_and_status_130_unless_the_caller_keeps_it(capsys):
    def interrupted():
        raise KeyboardInterrupt

    with pytest.raises(SystemExit) as stop:
        run_reporting_errors(interrupted)
    assert stop.value.code == 130 and capsys.readouterr().err == "stopped by SIGINT (Ctrl-C).\n"
    with pytest.raises(KeyboardInterrupt):
        run_reporting_errors(interrupted, stopped=None)


def test_fail_ends_with_the_message_and_status(capsys):
    with pytest.raises(SystemExit) as stop:
        fail("error: --config is required", 2)
    assert stop.value.code == 2 and capsys.readouterr().err == "error: --config is required\n"
