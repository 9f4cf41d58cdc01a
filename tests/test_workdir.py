"""tfmi.workdir and what the trainer guarantees about its workdir: one writer, atomic
export, one history after a resume, leftovers removed, workdir problems told in one line.

Command-line behaviour runs real ``python -m trainers.train`` processes; the rest calls
``trainers.train.train`` in-process on copies of one finished run (conftest ``finished``).
"""

import contextlib
import os
import re
import shutil
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import tensorflow as tf

from tfmi import workdir as workdir_lib
from tfmi.workdir import Workdir, WorkdirError
from trainers import train as trainer


def _file_states(directory):
    """{relative path: (size, mtime_ns)} of every file under ``directory``."""
    return {
        str(p.relative_to(directory)): (p.stat().st_size, p.stat().st_mtime_ns)
        for p in Path(directory).rglob("*") if p.is_file()
    }


def _config(helpers, arg="nwj,runlocal", **overrides):
    return helpers.load_staircase_config(arg, **{**helpers.FINISHED_RUN, **overrides})


def _scalar_steps(workdir, tag="train/loss"):
    """Steps of every ``tag`` event in the workdir's TensorBoard files, in file order."""
    steps = []
    for path in Workdir(workdir).event_files():
        for event in tf.compat.v1.train.summary_iterator(path):
            steps += [event.step for value in event.summary.value if value.tag == tag]
    return sorted(steps)


@contextlib.contextmanager
def read_only(path):
    """Makes ``path`` and everything below it unwritable, also for root: the immutable
    attribute (chattr +i) where the file system and privileges allow it, else chmod
    (which binds every user but root). Skips the test when neither binds."""
    files = [str(p) for p in Path(path).rglob("*")] + [str(path)]
    if os.geteuid() == 0:
        done = subprocess.run(["chattr", "+i", *files], capture_output=True)
        undo = ["chattr", "-i", *files]
    else:
        done = subprocess.run(["chmod", "a-w", *files], capture_output=True)
        undo = ["chmod", "u+w", *files]
    try:
        probe = Path(path) / ".probe"
        try:
            probe.write_text("")
            probe.unlink()
            pytest.skip("cannot make a directory read-only here (chattr unsupported)")
        except OSError:
            pass
        assert done.returncode == 0
        yield
    finally:
        subprocess.run(undo, capture_output=True)


# --- the module on its own -------------------------------------------------------------


def test_names_are_the_module_constants(tmp_path):
    run = Workdir(tmp_path)
    assert run.config_path == str(tmp_path / workdir_lib.CONFIG)
    assert run.metrics_path == str(tmp_path / workdir_lib.METRICS)
    assert run.checkpoint_dir == str(tmp_path / workdir_lib.CHECKPOINTS)
    assert run.export_dir == str(tmp_path / workdir_lib.EXPORT)
    assert run.eval_curve_path == str(tmp_path / workdir_lib.EVAL_CURVE)
    assert run.lock_path == str(tmp_path / workdir_lib.LOCK)


def test_finished_run_is_read_through_the_module(finished, helpers):
    workdir, _ = finished
    run = Workdir(workdir)
    assert [step for step, _ in run.checkpoint_steps()] == [60, 80, 100]
    assert run.newest_checkpoint() == os.path.join(run.checkpoint_dir, "ckpt-100")
    assert run.read_config()["total_steps"] == helpers.FINISHED_RUN["total_steps"]
    assert [r["step"] for r in run.read_metrics()] == [20, 40, 60, 80, 100]
    assert run.export_complete(["critic"]) and not run.export_complete(["critic", "encoder_x"])
    assert workdir_lib.find_workdirs([workdir.parent]) == [str(workdir)]
    assert not Path(run.lock_path).exists(), "a finished run leaves no lock"


def test_lock_is_exclusive_names_its_holder_and_is_taken_over_after_kill_9(tmp_path, helpers):
    ready = tmp_path / "locked"
    holder = subprocess.Popen(
        [sys.executable, "-c", textwrap.dedent(f"""
            import pathlib, time
            from tfmi.workdir import Workdir
            with Workdir({str(tmp_path / "run")!r}).lock():
                pathlib.Path({str(ready)!r}).write_text("")
                time.sleep(600)
        """)],
        cwd=helpers.REPO_ROOT, env=helpers.trainer_env(),
    )
    try:
        assert helpers.wait_for(ready.exists, timeout=120, process=holder)
        with pytest.raises(WorkdirError, match=rf"in use by another run \(pid {holder.pid} on host "):
            with Workdir(tmp_path / "run").lock():
                pass
        holder.send_signal(signal.SIGKILL)
        holder.wait(timeout=30)
    finally:
        helpers.stop(holder)
    lock = Path(Workdir(tmp_path / "run").lock_path)
    assert f"pid {holder.pid}" in lock.read_text()  # the killed holder could not clean up
    with Workdir(tmp_path / "run").lock():  # the kernel released its flock: taken over
        assert f"pid {os.getpid()} on host" in lock.read_text()
    assert not lock.exists()


def test_lock_refuses_a_file_a_path_below_a_file_and_an_unwritable_directory(tmp_path, monkeypatch):
    (tmp_path / "file").write_text("")
    with pytest.raises(WorkdirError, match="is a file, not a directory"):
        with Workdir(tmp_path / "file").lock():
            pass
    with pytest.raises(WorkdirError, match=r"lies below .*file, which is a file"):
        with Workdir(tmp_path / "file" / "sub" / "run").lock():
            pass
    # Root writes anywhere: simulate a read-only directory where the lock file is opened.
    real_open = os.open

    def read_only_open(path, flags, *args):
        if str(path).startswith(str(tmp_path / "ro")) and flags & (os.O_WRONLY | os.O_RDWR | os.O_CREAT):
            raise PermissionError(13, "Permission denied", str(path))
        return real_open(path, flags, *args)

    (tmp_path / "ro").mkdir()
    monkeypatch.setattr(os, "open", read_only_open)
    with pytest.raises(WorkdirError, match=r"cannot write to the workdir .*ro: permission denied"):
        with Workdir(tmp_path / "ro").lock():
            pass
    monkeypatch.setattr(os, "access", lambda path, mode: False)
    with pytest.raises(WorkdirError, match="permission denied.*Make it writable"):
        Workdir(tmp_path / "ro").check_writable()


def test_lock_of_a_refused_run_leaves_no_trace(tmp_path):
    with pytest.raises(RuntimeError):
        with Workdir(tmp_path / "new").lock():
            raise RuntimeError("a bad config")
    assert not (tmp_path / "new").exists()


# --- 2.1 two runs on one workdir (two real trainer processes) --------------------------


def test_second_run_on_a_busy_workdir_exits_2_and_the_first_stops_cleanly_on_sigint(tmp_path, helpers):
    workdir = tmp_path / "run"
    config = f"{helpers.STAIRCASE}:nwj,runlocal"
    # total_steps far beyond what any machine trains before the SIGINT: the run must still
    # be going when the second one starts and when the signal comes.
    overrides = {"total_steps": 10**7, "checkpoint_every": 1000, "log_every": 20, "steps_per_loop": 10}
    first = helpers.start_trainer(config, workdir, overrides, log_path=tmp_path / "first.log")
    try:
        assert helpers.wait_for(lambda: Workdir(workdir).read_metrics(), timeout=300, process=first), (
            (tmp_path / "first.log").read_text()[-3000:]
        )
        second = helpers.run_trainer(config, workdir, {**overrides, "optimizer.learning_rate": 3e-4}, timeout=300)
        assert first.poll() is None, "the first run stopped while the second started"
        logged = len(Workdir(workdir).read_metrics())
        assert helpers.wait_for(lambda: len(Workdir(workdir).read_metrics()) > logged, timeout=120, process=first)
        first.send_signal(signal.SIGINT)
        returncode = first.wait(timeout=120)
    finally:
        helpers.stop(first)
    assert second.returncode == 2, second.stderr[-3000:]
    errors = [line for line in second.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and "Traceback" not in second.stderr, second.stderr[-3000:]
    assert f"is in use by another run (pid {first.pid} on host " in errors[0]
    assert "Starting" not in second.stderr and "Resumed" not in second.stderr
    # The first run kept its config and went on; SIGINT stopped it cleanly, with 130.
    output = (tmp_path / "first.log").read_text()
    assert returncode == 128 + signal.SIGINT, output[-3000:]
    assert "Traceback" not in output
    assert not [line for line in output.splitlines() if line.startswith("error:")]
    stopped_at = int(re.search(r"stopped by SIGINT at step (\d+); the checkpoint of step \1 is saved", output).group(1))
    # The step at SIGINT is saved and is the newest checkpoint. How far the run got first
    # depends on the machine's speed: before it, the periodic checkpoints (multiples of
    # checkpoint_every) up to that step, of which retention keeps the newest.
    every, keep = overrides["checkpoint_every"], Workdir(workdir).read_config()["keep_checkpoints"]
    expected = sorted({*range(every, stopped_at + 1, every), stopped_at})[-keep:]
    assert helpers.checkpoint_steps(workdir) == expected, (stopped_at, output[-3000:])
    assert helpers.latest_checkpoint_step(workdir) == stopped_at
    # Its metrics go up to the last log step at or before the stop, never past it.
    logged_steps = [record["step"] for record in Workdir(workdir).read_metrics()]
    assert max(logged_steps) == stopped_at - stopped_at % overrides["log_every"], (stopped_at, logged_steps[-5:])
    assert "Resume with:\n  python -m trainers.train --config " in output
    assert Workdir(workdir).read_config()["optimizer"]["learning_rate"] != 3e-4
    assert not Path(Workdir(workdir).lock_path).exists()


# --- 2.2 atomic export ------------------------------------------------------------------


def test_finished_run_with_an_incomplete_export_exports_again(finished_copy, helpers):
    critic = Path(Workdir(finished_copy).export_dir) / "critic"
    (critic / "saved_model.pb").unlink()  # what a kill -9 during the export leaves
    trainer.train(_config(helpers), str(finished_copy))
    assert (critic / "saved_model.pb").exists()
    assert tf.saved_model.load(str(critic)).serve(tf.zeros([3, 20]), tf.zeros([3, 20])).shape == (3, 3)


def test_interrupted_export_leaves_no_partial_export_and_the_rerun_exports(finished_copy, helpers, monkeypatch):
    shutil.rmtree(Workdir(finished_copy).export_dir)
    real_export = trainer.export_model

    def killed_half_way(model, directory):
        os.makedirs(os.path.join(directory, "critic", "variables"))
        raise KeyboardInterrupt  # stands for the kill: nothing after it runs

    monkeypatch.setattr(trainer, "export_model", killed_half_way)
    with pytest.raises(KeyboardInterrupt):
        trainer.train(_config(helpers), str(finished_copy))
    assert not Path(Workdir(finished_copy).export_dir).exists(), "a partial export/ was left"
    monkeypatch.setattr(trainer, "export_model", real_export)
    trainer.train(_config(helpers), str(finished_copy))
    assert Workdir(finished_copy).export_complete(["critic"])
    assert not list(finished_copy.glob(".export.tmp*")), "the temporary export was not removed"


# --- 2.6 workdir problems: one error line, exit 2, no traceback -------------------------


@pytest.fixture(scope="module")
def bad_workdir_results(tmp_path_factory, finished, helpers):
    """Runs the trainer on each bad workdir at once (they spend most of their time importing TF)."""
    root = tmp_path_factory.mktemp("bad_workdir")
    (root / "file").write_text("not a directory\n")
    (root / "read_only_empty").mkdir()
    shutil.copytree(finished[0], root / "read_only_partial")
    workdirs = {
        "file": root / "file",
        "below_a_file": root / "file" / "run",
        "read_only_empty": root / "read_only_empty",
        "read_only_partial": root / "read_only_partial",
    }
    overrides = {**helpers.FINISHED_RUN, "total_steps": 120}  # the partial run has 20 steps to go
    with read_only(root / "read_only_empty"), read_only(root / "read_only_partial"):
        processes = {
            name: subprocess.Popen(
                helpers.trainer_command(f"{helpers.STAIRCASE}:nwj,runlocal", path, overrides),
                cwd=helpers.REPO_ROOT, env=helpers.trainer_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                text=True,
            )
            for name, path in workdirs.items()
        }
        try:
            return {name: (p.communicate(timeout=300), p.returncode) for name, p in processes.items()}
        finally:
            for process in processes.values():
                helpers.stop(process)


@pytest.mark.parametrize("name, expected", [
    ("file", "is a file, not a directory"),
    ("below_a_file", "which is a file"),
    ("read_only_empty", "cannot write to the workdir"),
    ("read_only_partial", "cannot write to the workdir"),
])
def test_workdir_problem_is_one_error_line_and_exit_2(bad_workdir_results, name, expected):
    (stdout, stderr), returncode = bad_workdir_results[name]
    assert returncode == 2, stderr[-3000:]
    assert "Traceback" not in stdout + stderr
    errors = [line for line in stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and expected in errors[0], stderr[-3000:]
    assert "--workdir" in errors[0]  # says what to do


def test_read_only_partly_trained_workdir_is_refused_in_process(finished_copy, helpers, monkeypatch):
    """The same refusal without chattr: os.access says the checkpoints are read-only."""
    checkpoints = Workdir(finished_copy).checkpoint_dir
    real_access = os.access
    monkeypatch.setattr(os, "access", lambda path, mode: False if path == checkpoints else real_access(path, mode))
    before = _file_states(finished_copy)
    with pytest.raises(WorkdirError, match="permission denied"):
        trainer.train(_config(helpers, total_steps=120), str(finished_copy))
    assert _file_states(finished_copy) == before


# --- 2.7 another experiment's workdir without checkpoints --------------------------------


def test_workdir_of_another_experiment_without_checkpoints_is_refused(finished_copy, helpers):
    run = Workdir(finished_copy)
    shutil.rmtree(run.checkpoint_dir)
    shutil.rmtree(run.export_dir)
    before = _file_states(finished_copy)
    with pytest.raises(WorkdirError, match="of another experiment.*model.bound.name: 'nwj' -> 'infonce'"):
        trainer.train(_config(helpers, "infonce,runlocal"), str(finished_copy))
    assert _file_states(finished_copy) == before, "the refused run changed the workdir"
    # Its logs without a config.json cannot be told to be this experiment's either.
    os.remove(run.config_path)
    with pytest.raises(WorkdirError, match="metrics.jsonl of a run without config.json"):
        trainer.train(_config(helpers, "infonce,runlocal"), str(finished_copy))


def test_data_location_fields_do_not_tell_experiments_apart(tmp_path):
    """A run may resume with another data_dir or download switch (or from a config.json
    written before the field existed); another dataset is another experiment."""
    run = Workdir(tmp_path)
    old = {"experiment": "cifar", "model": {"name": "simclr"}, "data": {"name": "cifar10"},
           "batch_size": 8, "seed": 0}
    run.write_config(old)
    moved = {**old, "data": {"name": "cifar10", "download": False, "data_dir": "/elsewhere"}}
    run.claim(moved)
    with pytest.raises(WorkdirError, match="data.name: 'cifar10' -> 'mnist'"):
        run.claim({**old, "data": {"name": "mnist", "download": True}})


# --- 2.8 small defects ------------------------------------------------------------------


def test_nan_stop_before_any_checkpoint_names_no_missing_folder(tmp_path, helpers):
    workdir = tmp_path / "run"
    with pytest.raises(trainer.Diverged) as caught:
        trainer.train(_config(helpers, **{"optimizer.learning_rate": 1e6}), str(workdir))
    message = str(caught.value)
    assert "the loss became" in message and "No checkpoint was saved" in message
    for path in re.findall(r"(/[^\s;,()]+)", message):
        assert os.path.exists(path.rstrip(".")), f"the message names {path}, which does not exist"
    assert trainer.Diverged.exit_status == 3


def test_leftovers_of_a_kill_are_removed_on_start(finished_copy, helpers):
    checkpoints = Path(Workdir(finished_copy).checkpoint_dir)
    (checkpoints / "ckpt-130_temp").mkdir()
    (checkpoints / "ckpt-130_temp" / "part-00000-of-00001.data-00000-of-00001").write_bytes(b"x")
    (checkpoints / "checkpoint.tmp3f2a1b9c").write_text("")
    trainer.train(_config(helpers, total_steps=140), str(finished_copy))
    assert sorted(p.name for p in checkpoints.iterdir() if "tmp" in p.name or "temp" in p.name) == []
    assert helpers.checkpoint_steps(finished_copy) == [100, 120, 140]


def test_retention_survives_a_garbled_checkpoint_index(finished_copy, helpers):
    index = Path(Workdir(finished_copy).checkpoint_dir) / "checkpoint"
    index.write_text('model_checkpoint_path: "ckpt-100" garbage{{\n')
    trainer.train(_config(helpers, total_steps=160), str(finished_copy))
    assert helpers.checkpoint_steps(finished_copy) == [120, 140, 160]  # keep_checkpoints=3
    assert helpers.latest_checkpoint_step(finished_copy) == 160


def test_resume_leaves_one_tensorboard_point_per_step(finished_copy, helpers):
    # A run killed after it logged step 100 but before its checkpoint of step 100.
    for path in Path(Workdir(finished_copy).checkpoint_dir).glob("ckpt-100.*"):
        path.unlink()
    assert _scalar_steps(finished_copy) == [20, 40, 60, 80, 100]
    trainer.train(_config(helpers, total_steps=120), str(finished_copy))
    assert _scalar_steps(finished_copy) == [20, 40, 60, 80, 100, 120]
    assert _scalar_steps(finished_copy, "train/mi") == [20, 40, 60, 80, 100, 120]
    assert [r["step"] for r in helpers.read_metrics(finished_copy)] == [20, 40, 60, 80, 100, 120]


def test_truncate_logs_keeps_what_was_logged_up_to_the_resume_step(tmp_path):
    run = Workdir(tmp_path)
    writer = run.metric_writer()
    for step in (10, 20, 30):
        writer.scalars(step, {"train/loss": float(step)})
    writer.close()
    run.truncate_logs(20)
    assert _scalar_steps(tmp_path) == [10, 20]
    assert [r["step"] for r in run.read_metrics(exact=True)] == [10, 20]
    run.truncate_logs(None)  # a run that starts from scratch keeps nothing
    assert _scalar_steps(tmp_path) == [] and run.read_metrics() == []
