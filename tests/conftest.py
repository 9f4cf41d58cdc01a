"""Shared helpers for the trainer tests: run ``python -m trainers.train`` in a subprocess,
build configs in-process, read what a workdir holds."""

import importlib.util
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tfmi.config_utils import load_config
from tfmi.workdir import Workdir

REPO_ROOT = Path(__file__).resolve().parents[1]
STAIRCASE = REPO_ROOT / "configs" / "gaussian_staircase.py"

# A short run of the staircase config: 40 steps, a log line and a checkpoint every 20.
SHORT_RUN = {
    "total_steps": 40,
    "checkpoint_every": 20,
    "log_every": 20,
    "steps_per_loop": 20,
    "histogram_every": 20,
}

# SHORT_RUN with SGD, for runs compared across replica counts: Adam divides by sqrt(v) and
# so turns a reduction-order difference in a near-zero gradient into a visible difference
# in the update, which depends on the CPU's kernels. SGD's update is lr times the gradient.
REPLICA_RUN = {**SHORT_RUN, "optimizer.name": "sgd", "optimizer.learning_rate": 1e-3}

# A run that keeps 3 of 5 checkpoints, logs every 20 steps and exports the critic.
FINISHED_RUN = {
    "total_steps": 100,
    "checkpoint_every": 20,
    "log_every": 20,
    "steps_per_loop": 20,
    "histogram_every": 50,
    "keep_checkpoints": 3,
}


def trainer_env(**extra):
    """The environment of a trainer subprocess: the repo importable, no stray TF_CONFIG."""
    env = dict(os.environ)
    for name in ("TF_CONFIG", "TFMI_DEBUG"):
        env.pop(name, None)
    env["PYTHONPATH"] = os.pathsep.join(
        [str(REPO_ROOT)] + [p for p in env.get("PYTHONPATH", "").split(os.pathsep) if p]
    )
    env.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    env.setdefault("CUDA_VISIBLE_DEVICES", "")
    env.update(extra)
    return env


def overrides_to_args(overrides):
    return [f"--config.{key}={value}" for key, value in (overrides or {}).items()]


def trainer_command(config, workdir, overrides=None):
    """argv of ``python -m trainers.train --config CONFIG --workdir WORKDIR --config.k=v...``."""
    return [
        sys.executable, "-m", "trainers.train",
        "--config", str(config), "--workdir", str(workdir),
        *overrides_to_args(overrides),
    ]


def run_trainer(config, workdir, overrides=None, timeout=300, env=None):
    """Runs the trainer to completion; returns the CompletedProcess (text output)."""
    return subprocess.run(
        trainer_command(config, workdir, overrides),
        cwd=REPO_ROOT,
        env=env or trainer_env(),
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def start_trainer(config, workdir, overrides=None, env=None, log_path=None):
    """Starts the trainer; stdout and stderr go to ``log_path`` (a file) or are dropped."""
    output = open(log_path, "w") if log_path else subprocess.DEVNULL
    try:
        return subprocess.Popen(
            trainer_command(config, workdir, overrides),
            cwd=REPO_ROOT,
            env=env or trainer_env(),
            stdout=output,
            stderr=subprocess.STDOUT,
            text=True,
        )
    finally:
        if log_path:
            output.close()


def load_tool(name):
    """The module of tools/NAME.py, loaded from its file (tools/ is no package); tools/
    goes on sys.path first, as when the tool runs as a script."""
    tools = str(REPO_ROOT / "tools")
    if tools not in sys.path:
        sys.path.insert(0, tools)
    spec = importlib.util.spec_from_file_location(f"_tool_{name}", REPO_ROOT / "tools" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def default_sigint():
    """``preexec_fn`` of a child that a test interrupts with SIGINT: a child started from a
    background job inherits SIGINT ignored (bash does that without job control), and
    Python then installs no KeyboardInterrupt handler; a terminal's child gets the default."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def stop(process):
    """Kills a trainer subprocess that is still running (a failed test must not leak it)."""
    if process.poll() is None:
        process.send_signal(signal.SIGKILL)
        process.wait(timeout=30)


def load_staircase_config(arg="nwj,runlocal", **overrides):
    """The staircase config built in-process, with dotted-key overrides applied."""
    return load_config(f"{STAIRCASE}:{arg}", overrides)


def checkpoint_steps(workdir):
    """Steps of the complete checkpoints in the workdir, sorted."""
    return [step for step, _ in Workdir(workdir).checkpoint_steps()]


def latest_checkpoint_step(workdir):
    """The step that the workdir's checkpoint index names (None without one)."""
    import tensorflow as tf

    path = tf.train.latest_checkpoint(Workdir(workdir).checkpoint_dir)
    return None if path is None else int(path.rsplit("-", 1)[-1])


def wait_for(predicate, timeout, process=None, interval=0.05):
    """Polls ``predicate`` until true; False on timeout or when ``process`` has exited."""
    deadline = time.time() + timeout
    while time.time() < deadline:
        if predicate():
            return True
        if process is not None and process.poll() is not None:
            return bool(predicate())
        time.sleep(interval)
    return False


def read_metrics(workdir):
    """Every record of the workdir's metrics.jsonl as written (a step logged twice appears twice)."""
    return Workdir(workdir).read_metrics(exact=True)


def assert_metrics_close(actual, expected, rtol=1e-4, atol=1e-5, steps=None):
    """metrics.jsonl records equal (all fields but the timing) at ``steps`` (default: all)."""
    by_step = {record["step"]: record for record in expected}
    compared = [record for record in actual if steps is None or record["step"] in steps]
    assert compared, "no metrics to compare"
    for record in compared:
        reference = by_step[record["step"]]
        keys = sorted(k for k in reference if k not in ("step", "train/steps_per_sec"))
        assert sorted(k for k in record if k not in ("step", "train/steps_per_sec")) == keys
        for key in keys:
            assert abs(record[key] - reference[key]) <= atol + rtol * abs(reference[key]), (
                f"step {record['step']} {key}: {record[key]} vs {reference[key]}"
            )


def local_cluster(workers=2):
    """A TF_CONFIG cluster {"worker": ["127.0.0.1:PORT", ...]} on free local ports."""
    ports = []
    for _ in range(workers):
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
            s.bind(("127.0.0.1", 0))
            ports.append(s.getsockname()[1])
    return {"worker": [f"127.0.0.1:{port}" for port in ports]}


@pytest.fixture(scope="session")
def finished(tmp_path_factory):
    """A workdir holding a finished nwj runlocal run of FINISHED_RUN (trained in-process
    once per session; do not change it), and the metrics that train() returned."""
    from trainers import train as trainer

    workdir = tmp_path_factory.mktemp("finished") / "run"
    metrics = trainer.train(load_staircase_config("nwj,runlocal", **FINISHED_RUN), str(workdir))
    return workdir, metrics


@pytest.fixture
def finished_copy(finished, tmp_path):
    """A private copy of the finished workdir, for tests that change or break it."""
    workdir = tmp_path / "run"
    shutil.copytree(finished[0], workdir)
    return workdir


@pytest.fixture(scope="session")
def helpers():
    """This module, so tests can use its helpers in any pytest import mode."""
    return sys.modules[__name__]
