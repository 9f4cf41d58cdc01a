"""The trainer entry point: what a workdir receives, resuming, signals and bad input.

Command-line behaviour is tested on ``python -m trainers.train`` subprocesses; the rest
calls ``trainers.train.train(config, workdir)`` in-process, which is faster.
"""

import errno
import json
import shlex
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import tensorflow as tf

from tfmi.workdir import CHECKPOINTS, CONFIG, EXPORT, METRICS, Workdir, WorkdirError
from trainers import train as trainer

DIM = 20  # configs/gaussian_staircase.py: x, y in R^20

def _file_states(directory):
    """{relative path: (size, mtime_ns)} of every file under ``directory``."""
    directory = Path(directory)
    return {
        str(p.relative_to(directory)): (p.stat().st_size, p.stat().st_mtime_ns)
        for p in directory.rglob("*")
        if p.is_file()
    }


# --- what a run writes ----------------------------------------------------------------


def test_run_writes_config_metrics_and_returns_them(finished, helpers):
    workdir, metrics = finished
    config = json.loads((workdir / CONFIG).read_text())
    assert config["model"]["bound"]["name"] == "nwj"
    assert config["total_steps"] == helpers.FINISHED_RUN["total_steps"]

    records = [json.loads(line) for line in (workdir / METRICS).read_text().splitlines()]
    assert [r["step"] for r in records] == [20, 40, 60, 80, 100]
    for record in records:
        for key in ("loss", "mi", "true_mi", "bound_infonce", "bound_nwj", "bound_dv",
                    "bound_js", "learning_rate", "steps_per_sec"):
            assert np.isfinite(record[f"train/{key}"]), key
        # NWJ is the trained bound: the loss is its negative, and mi is it.
        assert record["train/loss"] == pytest.approx(-record["train/mi"])
        assert record["train/bound_nwj"] == pytest.approx(record["train/mi"], rel=1e-5, abs=1e-6)
        assert record["train/learning_rate"] == pytest.approx(config["optimizer"]["learning_rate"])
        assert record["train/steps_per_sec"] > 0
    # The staircase: 2 nats for the first 40 steps, then 4, 6 (runlocal stages of 40).
    assert [r["train/true_mi"] for r in records] == [2.0, 2.0, 4.0, 4.0, 6.0]
    assert records[-1]["train/mi"] > records[0]["train/mi"], "the bound did not go up"
    assert metrics["loss"] == pytest.approx(records[-1]["train/loss"])


def test_run_writes_tensorboard_scalars(finished):
    workdir, _ = finished
    event_files = sorted(workdir.glob("events.out.tfevents.*"))
    assert event_files
    scalars = {}
    for path in event_files:
        for event in tf.compat.v1.train.summary_iterator(str(path)):
            for value in event.summary.value:
                scalars.setdefault(value.tag, []).append(event.step)
    for tag in ("train/loss", "train/mi", "train/true_mi", "train/bound_infonce",
                "train/learning_rate", "train/steps_per_sec"):
        assert scalars.get(tag) == [20, 40, 60, 80, 100], tag


def test_run_keeps_only_the_newest_checkpoints(finished, helpers):
    workdir, _ = finished
    assert helpers.checkpoint_steps(workdir) == [60, 80, 100]  # keep_checkpoints=3
    assert helpers.latest_checkpoint_step(workdir) == 100
    assert not list(workdir.rglob(".worker_*"))


def test_export_is_a_savedmodel_that_scores_pairs(finished):
    workdir, _ = finished
    loaded = tf.saved_model.load(str(workdir / EXPORT / "critic"))
    rng = np.random.default_rng(0)
    x = tf.constant(rng.normal(size=(7, DIM)), tf.float32)
    y = tf.constant(rng.normal(size=(7, DIM)), tf.float32)
    scores = loaded.serve(x, y)
    assert scores.shape == (7, 7)
    assert np.all(np.isfinite(scores.numpy()))
    # Rows follow x and columns follow y: permuting y permutes the columns.
    permuted = loaded.serve(x, tf.reverse(y, axis=[0]))
    np.testing.assert_allclose(permuted.numpy(), scores.numpy()[:, ::-1], rtol=1e-5, atol=1e-5)


# --- running again: resume, finished, refused -----------------------------------------


def test_finished_workdir_exits_without_training(finished, helpers):
    workdir, _ = finished
    before = _file_states(workdir / CHECKPOINTS)
    lines = (workdir / METRICS).read_text()
    started = time.time()
    result = helpers.run_trainer(
        f"{helpers.STAIRCASE}:nwj,runlocal", workdir, helpers.FINISHED_RUN, timeout=300
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert "Resumed from" in result.stderr and "at step 100" in result.stderr
    assert "nothing to train" in result.stderr
    assert "step 100/100" not in result.stderr  # no training log line
    assert _file_states(workdir / CHECKPOINTS) == before
    assert (workdir / METRICS).read_text() == lines
    assert time.time() - started < 120


def test_resume_after_sigkill_continues_from_the_checkpoint(tmp_path, helpers):
    workdir = tmp_path / "run"
    config = f"{helpers.STAIRCASE}:nwj,runlocal"
    overrides = {"checkpoint_every": 20, "log_every": 20, "steps_per_loop": 20}
    # The killed run aims far beyond any step it reaches before the kill, however fast
    # the machine; the resumed run (total_steps is no identity field) stops 40 steps
    # after the checkpoint it resumes from.
    process = helpers.start_trainer(config, workdir, {**overrides, "total_steps": 10**7},
                                    log_path=tmp_path / "first.log")
    try:
        reached = helpers.wait_for(
            lambda: (helpers.latest_checkpoint_step(workdir) or 0) >= 40, timeout=300, process=process
        )
        finished_early = process.poll() is not None
        process.send_signal(signal.SIGKILL)
        process.wait(timeout=30)
    finally:
        helpers.stop(process)
    assert reached, (tmp_path / "first.log").read_text()[-3000:]
    assert not finished_early, "the run ended before it could be killed"
    killed_at = helpers.latest_checkpoint_step(workdir)
    assert killed_at >= 40 and killed_at % 20 == 0
    lock = Path(Workdir(workdir).lock_path)
    assert f"pid {process.pid} on host" in lock.read_text()  # left by the killed run

    total = killed_at + 40
    result = helpers.run_trainer(config, workdir, {**overrides, "total_steps": total}, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    assert f"Took over the lock of {workdir} left by a run that ended (pid {process.pid}" in result.stderr
    assert not lock.exists()
    assert f"Resumed from {workdir / 'checkpoints' / f'ckpt-{killed_at}'} at step {killed_at}." in result.stderr
    assert "from scratch" not in result.stderr
    assert f"step {killed_at + 20}/{total}" in result.stderr
    assert f"step {killed_at}/{total}" not in result.stderr  # no step was trained twice
    # metrics.jsonl is one history: steps logged after the checkpoint by the killed
    # run were dropped, and the resumed run continued from the checkpoint step.
    steps = [record["step"] for record in helpers.read_metrics(workdir)]
    assert steps == list(range(20, total + 1, 20))
    assert helpers.latest_checkpoint_step(workdir) == total
    assert (workdir / EXPORT / "critic" / "saved_model.pb").exists()


def test_sigterm_saves_a_checkpoint_and_exits_143_with_the_resume_command(tmp_path, helpers):
    workdir = tmp_path / "run"
    overrides = {"checkpoint_every": 1000, "log_every": 20, "steps_per_loop": 10, "total_steps": 100000}
    log = tmp_path / "run.log"
    process = helpers.start_trainer(f"{helpers.STAIRCASE}:nwj,runlocal", workdir, overrides, log_path=log)
    try:
        assert helpers.wait_for(
            lambda: (workdir / METRICS).exists() and (workdir / METRICS).read_text(),
            timeout=300,
            process=process,
        ), log.read_text()[-3000:]
        process.send_signal(signal.SIGTERM)
        returncode = process.wait(timeout=120)
    finally:
        helpers.stop(process)
    output = log.read_text()
    assert returncode == 128 + signal.SIGTERM, output[-3000:]  # 143, as shells expect
    assert "Traceback" not in output
    assert not [line for line in output.splitlines() if line.startswith("error:")]
    assert "stopped by SIGTERM at step" in output
    stopped_at = int(output.split("stopped by SIGTERM at step ")[1].split(";")[0])
    assert f"the checkpoint of step {stopped_at} is saved in {Workdir(workdir).checkpoint_dir}" in output
    resume = output.split("Resume with:\n")[1].splitlines()[0].strip()
    command = helpers.trainer_command(f"{helpers.STAIRCASE}:nwj,runlocal", workdir, overrides)
    assert shlex.split(resume) == ["python", *command[1:]]
    assert stopped_at % 10 == 0 and 20 <= stopped_at < 100000
    # The signal's checkpoint is the newest; before it only the periodic ones (every 1000
    # steps) that the run passed first, however fast it trained, as retention keeps them.
    every, keep = overrides["checkpoint_every"], Workdir(workdir).read_config()["keep_checkpoints"]
    expected = sorted({*range(every, stopped_at + 1, every), stopped_at})[-keep:]
    assert helpers.checkpoint_steps(workdir) == expected, stopped_at
    assert helpers.latest_checkpoint_step(workdir) == stopped_at


# --- bad input: one clear message, no traceback ---------------------------------------

BAD_INPUTS = {
    "missing_config_file": (
        ["--config", "configs/no_such_config.py"],
        ["cannot load the config file", "no_such_config.py"],
    ),
    "unknown_argument": (
        ["--config", "configs/gaussian_staircase.py:nwj,bogus=1"],
        ["Unknown config argument 'bogus'", "runlocal"],
    ),
    "unknown_field": (
        ["--config.nope=1"],
        ["--config.nope", "no field 'nope'"],
    ),
    "wrong_type": (
        ["--config.total_steps=abc"],
        ["--config.total_steps=abc", "abc"],
    ),
    "unknown_bound": (
        ["--config.model.bound.name=foo"],
        ["Unknown bound 'foo'", "infonce"],
    ),
    "unknown_strategy": (
        ["--config.strategy=warp"],
        ["config.strategy is 'warp'", "mirrored"],
    ),
    "missing_workdir": (
        ["--config", "configs/gaussian_staircase.py:nwj,runlocal"],
        ["error: --workdir is required"],
    ),
    "missing_config": (
        [],
        ["error: --config is required"],
    ),
}
WITHOUT_WORKDIR = {"missing_workdir"}


@pytest.fixture(scope="module")
def bad_input_results(tmp_path_factory, helpers):
    """Runs every bad command at once (they spend most of their time importing TF)."""
    root = tmp_path_factory.mktemp("bad_input")
    processes = {}
    try:
        for name, (args, _) in BAD_INPUTS.items():
            if args and args[0] != "--config":
                args = ["--config", f"{helpers.STAIRCASE}:nwj,runlocal", *args]
            workdir = [] if name in WITHOUT_WORKDIR else ["--workdir", str(root / name)]
            processes[name] = subprocess.Popen(
                [sys.executable, "-m", "trainers.train", *args, *workdir],
                cwd=helpers.REPO_ROOT,
                env=helpers.trainer_env(),
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
            )
        results = {}
        for name, process in processes.items():
            stdout, stderr = process.communicate(timeout=300)
            results[name] = (process.returncode, stdout, stderr, root / name)
        return results
    finally:
        for process in processes.values():
            helpers.stop(process)


@pytest.mark.parametrize("name", sorted(BAD_INPUTS))
def test_bad_input_gives_one_clear_message(bad_input_results, name):
    returncode, stdout, stderr, workdir = bad_input_results[name]
    assert returncode == 2, stderr[-3000:]
    assert "Traceback" not in stderr + stdout
    assert "FATAL" not in stderr and "USAGE" not in stderr + stdout  # not absl's flag help
    for fragment in BAD_INPUTS[name][1]:
        assert fragment in stderr, stderr[-3000:]
    assert not workdir.exists() or not any(workdir.iterdir()), "a refused run wrote to its workdir"


def test_home_is_expanded_in_workdir_and_config_values(monkeypatch):
    """bash does not expand ~ after "=": --workdir=~/runs/x must not make a "./~"."""
    from trainers import train

    monkeypatch.setenv("HOME", "/home/someone")
    argv = ["train", "--workdir=~/runs/x", "--config=~/c.py:nwj", "--config.name=~x", "--other=~/y"]
    assert train._expand_home(argv) == [
        "train", "--workdir=/home/someone/runs/x", "--config=/home/someone/c.py:nwj", "--config.name=~x", "--other=~/y"]


def test_workdir_of_another_experiment_is_refused(finished_copy, helpers):
    before = _file_states(finished_copy)
    result = helpers.run_trainer(
        f"{helpers.STAIRCASE}:infonce,runlocal", finished_copy, helpers.FINISHED_RUN, timeout=300
    )
    assert result.returncode != 0
    assert "Traceback" not in result.stderr
    assert "holds checkpoints of another experiment" in result.stderr
    assert "model.bound.name: 'nwj' -> 'infonce'" in result.stderr
    assert _file_states(finished_copy) == before, "the refused run changed the workdir"


def test_corrupt_checkpoint_names_the_file_and_deletes_nothing(finished_copy, helpers):
    data = finished_copy / CHECKPOINTS / "ckpt-100.data-00000-of-00001"
    raw = bytearray(data.read_bytes())
    raw[len(raw) // 2 :] = bytes(len(raw) - len(raw) // 2)  # zero the second half
    data.write_bytes(bytes(raw[: len(raw) - 7]))  # and truncate
    before = _file_states(finished_copy)
    config = helpers.load_staircase_config("nwj,runlocal", **{**helpers.FINISHED_RUN, "total_steps": 120})
    with pytest.raises(WorkdirError) as caught:
        trainer.train(config, str(finished_copy))
    message = str(caught.value)
    assert "ckpt-100" in message and data.name in message
    assert "corrupt" in message and "nothing was deleted" in message
    assert _file_states(finished_copy) == before

    # What the message advises: move the corrupt files away, resume from step 80.
    moved = finished_copy / "moved"
    moved.mkdir()
    for path in (finished_copy / CHECKPOINTS).glob("ckpt-100.*"):
        path.rename(moved / path.name)
    trainer.train(config, str(finished_copy))
    steps = [record["step"] for record in helpers.read_metrics(finished_copy)]
    assert steps == [20, 40, 60, 80, 100, 120]
    assert helpers.checkpoint_steps(finished_copy) == [80, 100, 120]


def test_checksum_corrupt_checkpoint_is_one_line_without_tensorflow_noise(finished_copy, helpers):
    """Flipped bytes (same size): TensorFlow's checksum fails; the user sees one error
    line, not the op's decorations or the "unrestored values" warnings at teardown."""
    data = finished_copy / CHECKPOINTS / "ckpt-100.data-00000-of-00001"
    raw = bytearray(data.read_bytes())
    for i in range(len(raw) // 3, len(raw) // 3 + 64):
        raw[i] ^= 0xFF
    data.write_bytes(bytes(raw))
    result = helpers.run_trainer(
        f"{helpers.STAIRCASE}:nwj,runlocal", finished_copy, {**helpers.FINISHED_RUN, "total_steps": 120}
    )
    assert result.returncode == 2, result.stderr[-3000:]
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert lines[-1].startswith("error: cannot restore the checkpoint"), result.stderr[-3000:]
    assert "Checksum does not match" in lines[-1]
    assert "function_node" not in lines[-1] and "[Op:" not in lines[-1]
    assert "Traceback" not in result.stderr and "unrestored" not in result.stderr


def _loading_tensorflow(pid):
    """Whether process ``pid`` has begun to load TensorFlow: one of its shared libraries
    is mapped (Linux: /proc/PID/maps); None where that cannot be read."""
    try:
        return "libtensorflow" in Path(f"/proc/{pid}/maps").read_text()
    except OSError:
        return None


def test_ctrl_c_while_starting_is_one_line_and_status_130(tmp_path, helpers):
    """SIGINT as TensorFlow loads (once its library is mapped: the trainer's guarded
    imports are under way, whatever the machine's speed; where /proc cannot tell, half a
    second in), or, on a fast machine, while the run is set up; either way one line,
    exit 130, no traceback."""
    process = subprocess.Popen(
        helpers.trainer_command(f"{helpers.STAIRCASE}:nwj,runlocal", tmp_path / "run"),
        cwd=helpers.REPO_ROOT, env=helpers.trainer_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        preexec_fn=helpers.default_sigint,
    )
    try:
        if _loading_tensorflow(process.pid) is None:
            time.sleep(0.5)
        else:
            assert helpers.wait_for(lambda: _loading_tensorflow(process.pid), timeout=120, process=process), (
                process.communicate(timeout=60)[1][-3000:]
            )
        process.send_signal(signal.SIGINT)
        _, stderr = process.communicate(timeout=120)
    finally:
        helpers.stop(process)
    assert process.returncode == 130, stderr[-3000:]
    assert "Traceback" not in stderr and "stopped by SIGINT" in stderr


def test_nonfinite_loss_stops_and_keeps_the_last_good_checkpoint(finished_copy, helpers):
    # Resuming at step 100 with a learning rate of 1e6 blows the critic up at once.
    config = helpers.load_staircase_config(
        "nwj,runlocal", **{**helpers.FINISHED_RUN, "total_steps": 200, "optimizer.learning_rate": 1e6}
    )
    with pytest.raises(trainer.Diverged) as caught:
        trainer.train(config, str(finished_copy))
    message = str(caught.value)
    assert "the loss became" in message and "up to step 120" in message
    assert "last good checkpoint (step 100)" in message
    assert helpers.checkpoint_steps(finished_copy) == [60, 80, 100]
    assert helpers.latest_checkpoint_step(finished_copy) == 100
    steps = [record["step"] for record in helpers.read_metrics(finished_copy)]
    assert steps == [20, 40, 60, 80, 100], "non-finite metrics were logged"


def test_full_disk_gives_a_clear_message_and_keeps_checkpoints(finished_copy, helpers, monkeypatch):
    def no_space(self, *args, **kwargs):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(tf.train.CheckpointManager, "save", no_space)
    config = helpers.load_staircase_config("nwj,runlocal", **{**helpers.FINISHED_RUN, "total_steps": 120})
    with pytest.raises(WorkdirError) as caught:
        trainer.train(config, str(finished_copy))
    message = str(caught.value)
    assert "the disk is full" in message and "step 120" in message
    assert helpers.checkpoint_steps(finished_copy) == [60, 80, 100]
