"""Multi-worker start-up: TF_CONFIG is checked before anything starts, a worker whose
peers never start gives up after ``config.start_timeout`` naming them, and SIGTERM /
SIGINT end the wait at once (exit 143 / 130)."""

import json
import signal
import socket
import subprocess
import time
from pathlib import Path
from typing import NamedTuple

import pytest

from tfmi import distribute, network

VALID = {"cluster": {"chief": ["h0:2000"], "worker": ["h1:2001", "[::1]:2002"]}, "task": {"type": "worker", "index": 1}}


def test_tf_config_returns_the_cluster_and_task():
    assert distribute.tf_config(json.dumps(VALID)) == VALID


@pytest.mark.parametrize(
    "text,fragment",
    [
        ("", "is not set"),
        ('{"cluster": {"worker": ["localhost:1"', "is not valid JSON (Expecting ',' delimiter at line 1, column 38)"),
        ("[1,2]", 'must be a JSON object with "cluster" and "task", got an array'),
        ('"worker"', "got a string"),
        ("{}", 'has no "cluster" object'),
        ('{"cluster": {"ps": ["a:1"]}, "task": {"type": "ps", "index": 0}}', "names the jobs ['ps']"),
        ('{"cluster": {"worker": "a:1"}, "task": {"type": "worker", "index": 0}}', 'cluster "worker" must be a non-empty array'),
        ('{"cluster": {"worker": []}, "task": {"type": "worker", "index": 0}}', 'cluster "worker" must be a non-empty array'),
        ('{"cluster": {"chief": ["a:1", "b:1"]}, "task": {"type": "chief", "index": 0}}', 'cluster "chief" must list one address'),
        ('{"cluster": {"worker": ["a:1", "b"]}, "task": {"type": "worker", "index": 0}}', "'b' is not host:port"),
        ('{"cluster": {"worker": ["a:1", "b:70000"]}, "task": {"type": "worker", "index": 0}}', "'b:70000' is not host:port"),
        ('{"cluster": {"worker": ["a:1", "a:1"]}, "task": {"type": "worker", "index": 0}}', "lists the address a:1 twice"),
        ('{"cluster": {"worker": ["a:1", "b:1"]}}', 'has no "task" object'),
        ('{"cluster": {"worker": ["a:1", "b:1"]}, "task": {"type": "chief", "index": 0}}', 'task type "chief" is not a job'),
        ('{"cluster": {"worker": ["a:1", "b:1"]}, "task": {"type": "worker", "index": 2}}', "task index 2 is not an index"),
        ('{"cluster": {"worker": ["a:1", "b:1"]}, "task": {"type": "worker", "index": "0"}}', 'task index "0" is not'),
        ('{"cluster": {"worker": ["a:1", "b:1"]}, "task": {"type": "worker", "index": true}}', "task index true is not"),
    ],
)
def test_bad_tf_config_is_one_error_naming_tf_config(text, fragment):
    with pytest.raises(ValueError) as info:
        distribute.tf_config(text)
    message = str(info.value)
    assert message.startswith("TF_CONFIG ") and fragment in message
    assert distribute.TF_CONFIG_EXAMPLE in message  # and what a good one looks like


def test_unreachable_tells_a_closed_port_from_a_listening_one():
    with socket.socket() as closed:
        closed.bind(("127.0.0.1", 0))
        closed_address = f"127.0.0.1:{closed.getsockname()[1]}"
    with socket.create_server(("127.0.0.1", 0)) as listening:
        open_address = f"127.0.0.1:{listening.getsockname()[1]}"
        start = time.monotonic()
        result = network.unreachable([closed_address, open_address], timeout=2.0)
    assert time.monotonic() - start < 3.0
    assert list(result) == [closed_address] and "refused" in result[closed_address].lower()


def test_start_timeout_must_be_positive():
    with pytest.raises(ValueError, match="start_timeout must be a positive number"):
        distribute._start_multiworker(VALID, 0)


# --- the trainer as a user starts it --------------------------------------------------

START_TIMEOUT = 6


def _command(helpers, workdir, **overrides):
    return helpers.trainer_command(
        f"{helpers.STAIRCASE}:nwj,runlocal", workdir, {"strategy": "multiworker", **overrides}
    )


def _tf_config(cluster, index=0):
    return json.dumps({"cluster": cluster, "task": {"type": "worker", "index": index}})


SIGNALS = {"sigterm": (signal.SIGTERM, 143), "sigint": (signal.SIGINT, 130)}


@pytest.fixture(scope="module")
def startups(tmp_path_factory, helpers):
    """Every start-up case at once (each spends most of its time importing TF):
    {name: Result}; "absent_peer" waits START_TIMEOUT s for a worker that never
    starts; "sigterm" / "sigint" wait for one (300 s) and get that signal."""
    root = tmp_path_factory.mktemp("startup")
    cases = {
        "malformed_json": ('{"cluster": {"worker": ["localhost:1"', {}),
        "not_an_object": ("[1,2]", {}),
        "absent_peer": (None, {"start_timeout": START_TIMEOUT}),
        "sigterm": (None, {}),
        "sigint": (None, {}),
    }
    processes, logs, clusters, results = {}, {}, {}, {}
    try:
        for name, (tf_config, overrides) in cases.items():
            clusters[name] = helpers.local_cluster(2)  # free ports: worker 1 never starts
            logs[name] = root / f"{name}.log"
            with open(logs[name], "w") as log:
                processes[name] = subprocess.Popen(
                    _command(helpers, root / name, **overrides), cwd=helpers.REPO_ROOT,
                    env=helpers.trainer_env(TF_CONFIG=tf_config or _tf_config(clusters[name])),
                    stdout=subprocess.DEVNULL, stderr=log,
                )
        waiting_since = {}
        for name in ("absent_peer", *SIGNALS):
            helpers.wait_for(lambda: "waiting up to" in logs[name].read_text(), 300, processes[name])
            waiting_since[name] = time.monotonic()
            if name in SIGNALS:
                processes[name].send_signal(SIGNALS[name][0])
        for name, process in processes.items():
            process.wait(timeout=300)
            seconds = time.monotonic() - waiting_since.get(name, time.monotonic())
            results[name] = Result(process.returncode, logs[name].read_text(), seconds, root / name,
                                   clusters[name]["worker"][1])
        return results
    finally:
        for process in processes.values():
            helpers.stop(process)


class Result(NamedTuple):
    returncode: int
    stderr: str
    seconds: float  # from the "waiting up to" log line (or the signal) to the exit
    workdir: Path
    peer: str  # the address of worker 1, which never starts


def _one_error_line(stderr):
    assert "Traceback" not in stderr, stderr[-3000:]
    errors = [line for line in stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1, stderr[-3000:]
    return errors[0]


@pytest.mark.parametrize("name,fragment", [
    ("malformed_json", "TF_CONFIG is not valid JSON"),
    ("not_an_object", "TF_CONFIG must be a JSON object"),
])
def test_bad_tf_config_stops_the_trainer(startups, name, fragment):
    result = startups[name]
    assert result.returncode == 2, result.stderr[-3000:]
    assert fragment in _one_error_line(result.stderr)
    assert not result.workdir.exists()


def test_absent_peer_fails_after_start_timeout_naming_it(startups):
    result = startups["absent_peer"]
    assert result.returncode == 2, result.stderr[-3000:]
    line = _one_error_line(result.stderr)
    assert f"no answer within {START_TIMEOUT} s from {result.peer} (worker 1" in line
    assert "config.start_timeout" in line
    # The wait is bounded by start_timeout (plus the interpreter's exit).
    assert START_TIMEOUT - 1 <= result.seconds < START_TIMEOUT + 60, result.seconds
    assert not result.workdir.exists()


@pytest.mark.parametrize("name", sorted(SIGNALS))
def test_signal_stops_the_wait_for_peers(startups, name):
    signum, status = SIGNALS[name]
    result = startups[name]
    assert result.returncode == status, result.stderr[-3000:]
    assert "Traceback" not in result.stderr
    assert not any(line.startswith("error:") for line in result.stderr.splitlines())
    assert f"stopped by {signum.name} while waiting for the other workers" in result.stderr
    assert result.seconds < 30, result.seconds  # the interpreter's exit only
    assert not result.workdir.exists()
