"""What the trainer says when it cannot start: a config file that does not parse, a bad
TF_CONFIG, a worker whose peers never start (it gives up after ``config.start_timeout``
naming them; SIGTERM / SIGINT end the wait at once, exit 143 / 130), data that cannot be
downloaded (offline: at once, naming the switch) or a corrupt prepared tfds dataset.
Each is one ``error:`` line and exit status 2, without a traceback."""

import json
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import NamedTuple

import pytest

from tfmi import distribute, reachability, worker_startup

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
        ('{"cluster": {"worker": "a:1"}, "task": {"type": "worker", "index": 0}}',
         'cluster "worker" must be a non-empty array'),
        ('{"cluster": {"worker": []}, "task": {"type": "worker", "index": 0}}',
         'cluster "worker" must be a non-empty array'),
        ('{"cluster": {"chief": ["a:1", "b:1"]}, "task": {"type": "chief", "index": 0}}',
         'cluster "chief" must list one address'),
        ('{"cluster": {"worker": ["a:1", "b"]}, "task": {"type": "worker", "index": 0}}', "'b' is not host:port"),
        ('{"cluster": {"worker": ["a:1", "b:70000"]}, "task": {"type": "worker", "index": 0}}',
         "'b:70000' is not host:port"),
        ('{"cluster": {"worker": ["a:1", "a:1"]}, "task": {"type": "worker", "index": 0}}',
         "lists the address a:1 twice"),
        ('{"cluster": {"worker": ["a:1", "b:1"]}}', 'has no "task" object'),
        ('{"cluster": {"worker": ["a:1", "b:1"]}, "task": {"type": "chief", "index": 0}}',
         'task type "chief" is not a job'),
        ('{"cluster": {"worker": ["a:1", "b:1"]}, "task": {"type": "worker", "index": 2}}',
         "task index 2 is not an index"),
        ('{"cluster": {"worker": ["a:1", "b:1"]}, "task": {"type": "worker", "index": "0"}}', 'task index "0" is not'),
        ('{"cluster": {"worker": ["a:1", "b:1"]}, "task": {"type": "worker", "index": true}}',
         "task index true is not"),
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
        result = reachability.unreachable([closed_address, open_address], timeout=2.0)
    assert time.monotonic() - start < 3.0
    assert list(result) == [closed_address] and "refused" in result[closed_address].lower()


def test_greeting_round_trips_and_refuses_other_lines():
    greeting = worker_startup.Greeting.of(VALID, "abc123")
    assert worker_startup.Greeting.parse(greeting.line()) == greeting
    assert greeting.task() == "worker 1"
    assert worker_startup.Greeting.parse(b"SSH-2.0-OpenSSH_9.6\r\n") is None
    assert worker_startup.Greeting.parse(b"") is None
    other = {**VALID, "cluster": {**VALID["cluster"], "worker": ["h1:2001", "h2:2002"]}}
    assert worker_startup.Greeting.of(other, "abc123").cluster != greeting.cluster


def test_start_timeout_must_be_positive():
    with pytest.raises(ValueError, match="start_timeout must be a positive number"):
        distribute._start_multiworker(VALID, 0)


# --- the trainer as a user starts it --------------------------------------------------

START_TIMEOUT = 6
SIGNALS = {"sigterm": (signal.SIGTERM, 143), "sigint": (signal.SIGINT, 130)}
TIMED_OUT_IMPOSTORS = ("silent", "greeter")  # worker 1's port held by another program
SYNTAX_ERROR_CONFIG = """import ml_collections


def get_config(arg=None):
    config = ml_collections.ConfigDict()
    config.seed = (0
    return config
"""


# Programs that hold worker 1's port: one that accepts and says nothing, one that greets
# as worker 1 of the same cluster and then never starts TensorFlow (so worker 0's own
# TensorFlow start-up would wait for it forever).
SILENT_LISTENER = """
import socket, sys
server = socket.create_server(("", int(sys.argv[1])))
held = []
while True:
    held.append(server.accept()[0])
"""
GREETER = """
import socket, sys
from tfmi import distribute, worker_startup
config = distribute.tf_config()
hello = worker_startup.Greeting.of(config, "impostor")
server = socket.create_server(("", int(sys.argv[1])))
while True:
    connection, _ = server.accept()
    with connection:
        worker_startup._exchange(connection, hello, 1.0)
"""


def _tf_config(cluster, index=0):
    return json.dumps({"cluster": cluster, "task": {"type": "worker", "index": index}})


def _free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Result(NamedTuple):
    returncode: int
    stderr: str
    seconds: float  # from the "waiting up to" log line (or the signal) to the exit
    workdir: Path
    detail: str  # the absent worker's address; the data_dir of a data case


@pytest.fixture(scope="module")
def startups(tmp_path_factory, helpers):
    """Every failing start-up at once (each spends most of its time importing TF):
    {name: Result}. "absent_peer" waits START_TIMEOUT s for a worker that never
    starts; "sigterm" / "sigint" wait for one (300 s) and get that signal; "offline"
    finds no data and its download goes through a proxy that is not there (so nothing
    leaves this machine); "corrupt_data" finds a garbled dataset_info.json."""
    tfds = pytest.importorskip("tensorflow_datasets")
    root = tmp_path_factory.mktemp("startup")
    staircase = f"{helpers.STAIRCASE}:nwj,runlocal"
    bad_config = root / "bad_config.py"
    bad_config.write_text(SYNTAX_ERROR_CONFIG)
    corrupt = root / "corrupt_tfds" / "mnist" / str(tfds.builder_cls("mnist").VERSION)
    corrupt.mkdir(parents=True)
    (corrupt / "dataset_info.json").write_text('{"name": "mnist", "version": ')
    dead_proxy = f"http://127.0.0.1:{_free_port()}"
    cases, impostors = {}, {}
    for name in ("absent_peer", *SIGNALS, *TIMED_OUT_IMPOSTORS, "silent_sigterm"):
        cluster = helpers.local_cluster(2)  # free ports: worker 1 never starts
        overrides = {"strategy": "multiworker",
                     **({} if name in SIGNALS or name == "silent_sigterm" else {"start_timeout": START_TIMEOUT})}
        cases[name] = (staircase, overrides, {"TF_CONFIG": _tf_config(cluster)}, cluster["worker"][1])
        if name != "absent_peer" and name not in SIGNALS:
            impostors[name] = (GREETER if name == "greeter" else SILENT_LISTENER, cluster)
    port = helpers.local_cluster(1)["worker"][0].rpartition(":")[2]  # one port, two names
    alias = {"worker": [f"localhost:{port}", f"127.0.0.1:{port}"]}
    cases["alias"] = (staircase, {"strategy": "multiworker", "start_timeout": START_TIMEOUT},
                      {"TF_CONFIG": _tf_config(alias)}, alias["worker"][1])
    multiworker = {"strategy": "multiworker"}
    cases["malformed_json"] = (staircase, multiworker, {"TF_CONFIG": '{"cluster": {"worker": ["localhost:1"'}, "")
    cases["not_an_object"] = (staircase, multiworker, {"TF_CONFIG": "[1,2]"}, "")
    cases["config_syntax"] = (str(bad_config), {}, {}, str(bad_config))
    proxies = {key: dead_proxy for key in ("http_proxy", "https_proxy", "HTTP_PROXY", "HTTPS_PROXY")}
    cases["offline"] = (
        f"{helpers.REPO_ROOT / 'configs' / 'cifar_simclr.py'}:runlocal", {"data.data_dir": str(root / "no_data")},
        {**proxies, "no_proxy": "", "NO_PROXY": ""}, str(root / "no_data"),
    )
    cases["corrupt_data"] = (
        f"{helpers.REPO_ROOT / 'configs' / 'mnist_noninvertible.py'}:runlocal",
        {"data.source": "tfds", "data.data_dir": str(root / "corrupt_tfds")}, {}, str(corrupt),
    )
    processes, logs, results = {}, {}, {}
    try:
        for name, (script, cluster) in impostors.items():
            port = cluster["worker"][1].rpartition(":")[2]
            processes[f"{name} impostor"] = subprocess.Popen(
                [sys.executable, "-c", script, port], cwd=helpers.REPO_ROOT, stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL, env=helpers.trainer_env(TF_CONFIG=_tf_config(cluster, 1)),
            )
        for name, (script, cluster) in impostors.items():  # listening before the workers start
            address = cluster["worker"][1]
            helpers.wait_for(lambda: not reachability.unreachable([address], 1.0), 120, processes[f"{name} impostor"])
        for name, (config, overrides, env, _) in cases.items():
            logs[name] = root / f"{name}.log"
            with open(logs[name], "w") as log:
                processes[name] = subprocess.Popen(
                    helpers.trainer_command(config, root / name, overrides), cwd=helpers.REPO_ROOT,
                    env=helpers.trainer_env(**env), stdout=subprocess.DEVNULL, stderr=log,
                )
        # One loop watches every worker at once, so that each time taken is when its event
        # happened (within a poll), not when a sequential wait for the others got round to
        # it: the bounds below then hold on a fast machine (a short exit) as on a slow one.
        waiters = ("absent_peer", *SIGNALS, *TIMED_OUT_IMPOSTORS, "silent_sigterm")
        signalled = {name: signal.SIGTERM if name == "silent_sigterm" else SIGNALS[name][0]
                     for name in (*SIGNALS, "silent_sigterm")}
        since, exited = {}, {}  # name: the "waiting up to" line seen (or the signal sent); name: exit seen
        deadline = time.monotonic() + 600
        while len(exited) < len(cases):
            assert time.monotonic() < deadline, f"still running after 600 s: {sorted(set(cases) - set(exited))}"
            for name in cases:
                if name in exited:
                    continue
                ended = processes[name].poll() is not None
                now = time.monotonic()
                if name in waiters and name not in since and "waiting up to" in logs[name].read_text():
                    since[name] = now
                if ended:
                    exited[name] = now
                elif name in signalled and name in since and now - since[name] >= 1.0:  # a round of probes under way
                    processes[name].send_signal(signalled.pop(name))
                    since[name] = time.monotonic()
            time.sleep(0.05)
        for name in cases:
            seconds = exited[name] - since.get(name, exited[name])
            results[name] = Result(processes[name].returncode, logs[name].read_text(), seconds, root / name,
                                   cases[name][3])
        return results
    finally:
        for process in processes.values():
            helpers.stop(process)


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
    assert f"no answer within {START_TIMEOUT} s from {result.detail} (worker 1" in line
    assert "config.start_timeout" in line
    # The wait is bounded by start_timeout (plus the interpreter's exit).
    # TensorFlow's shutdown takes seconds idle and a minute or more on a loaded machine.
    assert START_TIMEOUT - 1 <= result.seconds < START_TIMEOUT + 150, result.seconds
    assert not result.workdir.exists()


@pytest.mark.parametrize("name", sorted(SIGNALS))
def test_signal_stops_the_wait_for_peers(startups, name):
    signum, status = SIGNALS[name]
    result = startups[name]
    assert result.returncode == status, result.stderr[-3000:]
    assert "Traceback" not in result.stderr
    assert not any(line.startswith("error:") for line in result.stderr.splitlines())
    assert f"stopped by {signum.name} while waiting for the other workers" in result.stderr
    # Far below the 300 s wait: the interpreter's exit only (seconds idle, a minute or
    # more on a loaded machine).
    assert result.seconds < 150, result.seconds
    assert not result.workdir.exists()


def test_a_silent_program_on_the_peers_port_is_named_after_start_timeout(startups):
    result = startups["silent"]
    assert result.returncode == 2, result.stderr[-3000:]
    line = _one_error_line(result.stderr)
    assert f"no answer within {START_TIMEOUT} s from {result.detail} (worker 1: the port accepts" in line
    assert "another program holds it" in line
    assert START_TIMEOUT - 1 <= result.seconds < START_TIMEOUT + 150, result.seconds


def test_sigterm_ends_the_wait_on_a_silent_program(startups):
    result = startups["silent_sigterm"]
    assert result.returncode == 143, result.stderr[-3000:]
    assert "stopped by SIGTERM while waiting for the other workers" in result.stderr
    assert result.seconds < 150, result.seconds


def test_two_names_of_one_endpoint_fail_at_once(startups):
    result = startups["alias"]
    assert result.returncode == 2, result.stderr[-3000:]
    line = _one_error_line(result.stderr)
    assert f"TF_CONFIG names {result.detail} as worker 1, but that address reaches this same worker" in line
    assert "two names in the cluster resolve to one endpoint" in line


def test_tensorflows_own_start_up_is_bounded_by_start_timeout(startups):
    """A program greets as worker 1 and never starts TensorFlow: worker 0's TensorFlow
    wait (native code, deaf to signals) is ended by the watcher after start_timeout."""
    result = startups["greeter"]
    assert result.returncode == -signal.SIGKILL, result.stderr[-3000:]
    assert "Traceback" not in result.stderr
    line = _one_error_line(result.stderr)
    assert f"TensorFlow's own start-up did not finish within {START_TIMEOUT} s" in line
    assert result.seconds < START_TIMEOUT + 150, result.seconds


def test_config_syntax_error_names_file_line_and_fix(startups):
    result = startups["config_syntax"]
    assert result.returncode == 2, result.stderr[-3000:]
    line = _one_error_line(result.stderr)
    assert f"the config file {result.detail} has a syntax error at line 6: '(' was never closed" in line
    assert "`config.seed = (0`" in line and "Fix that line" in line


def test_offline_download_stops_at_once_naming_the_switch(startups):
    result = startups["offline"]
    assert result.returncode == 2, result.stderr[-3000:]
    line = _one_error_line(result.stderr)
    assert f"The tfds dataset 'cifar10' is not prepared under the tfds data_dir {result.detail}" in line
    assert "cannot be downloaded: no connection to 127.0.0.1:" in line  # the proxy, refused at once
    assert line.endswith("To skip the download attempt, run with --config.data.download=false.")
    assert "Retrying" not in result.stderr  # tfds's download (minutes of retries) never started


def test_corrupt_prepared_dataset_names_its_folder(startups):
    result = startups["corrupt_data"]
    assert result.returncode == 2, result.stderr[-3000:]
    line = _one_error_line(result.stderr)
    assert f"The prepared tfds dataset 'mnist' in {result.detail} cannot be read (ParseError: " in line
    assert f"Delete {result.detail} and prepare it again" in line
