"""Every vision config, end to end on tfds mock data: ``runlocal`` trains through the
trainer, checkpoints, resumes, exports its backbone, and the linear evaluation tool
runs on the export (Sordoni et al. 2021, Sec. 5.2; the vision issue's "done when").

Slow (each config builds and traces a ResNet-18 twice): ``pytest -m slow``.
"""

import json

import numpy as np
import pytest

from tfmi.workdir import EXPORT, METRICS

REPO_CONFIGS = "configs"
VISION_CONFIGS = [
    ("cifar_simclr", "runlocal", "cifar10"),
    ("cifar_simclr_demi", "runlocal", "cifar10"),
    ("imagenet_infomin", "runlocal", "imagenet2012"),
    ("imagenet_infomin_multi", "runlocal", "imagenet2012"),
    ("imagenet_demi", "runlocal", "imagenet2012"),
    ("imagenet_demi", "subview=cut,runlocal", "imagenet2012"),
    ("imagenet100_infomin", "runlocal", "imagenet100"),
    ("imagenet100_infomin_multi", "runlocal", "imagenet100"),
    ("imagenet100_demi", "runlocal", "imagenet100"),
]


@pytest.mark.slow
@pytest.mark.parametrize("name,arg,eval_set", VISION_CONFIGS, ids=[f"{n}:{a}" for n, a, _ in VISION_CONFIGS])
def test_vision_config_trains_resumes_exports_and_evaluates(tmp_path, name, arg, eval_set):
    tfds = pytest.importorskip("tensorflow_datasets")
    from tfmi.config_utils import load_config
    from tools import linear_eval as tool
    from trainers import train as trainer

    workdir = tmp_path / "run"
    config = load_config(f"{REPO_CONFIGS}/{name}.py:{arg}")
    steps = config.total_steps
    # ImageNet-100 keeps the mock images of its 100 classes only: enough examples that
    # every global batch fills.
    with tfds.testing.mock_data(num_examples=400 if eval_set == "imagenet100" else 64):
        metrics = trainer.train(config, str(workdir))
        assert metrics and all(np.isfinite(v) for v in metrics.values()), metrics
        records = [json.loads(line) for line in (workdir / METRICS).read_text().splitlines()]
        assert records[-1]["step"] == steps

        resumed = load_config(f"{REPO_CONFIGS}/{name}.py:{arg}", {"total_steps": steps + 2})
        trainer.train(resumed, str(workdir))
        records = [json.loads(line) for line in (workdir / METRICS).read_text().splitlines()]
        assert records[-1]["step"] == steps + 2
        assert (workdir / EXPORT / "encoder" / "saved_model.pb").exists()

        results = tool.run(tool.parse_args(
            ["--workdir", str(workdir), "--dataset", eval_set, "--num_train", "32", "--num_test", "16",
             "--scaler", "standard"]
        ))
    assert results["dataset"] == eval_set
    assert 0.0 <= results["results"]["encoder"]["accuracy"] <= 1.0
    assert (workdir / f"linear_eval_{eval_set}.json").exists()


@pytest.mark.slow
def test_simclr_demi_on_two_workers_trains_and_exports(tmp_path, helpers):
    """Two MultiWorkerMirroredStrategy workers on 127.0.0.1 (one replica each, batch
    norm synchronised, negatives gathered across the workers) train SimCLR + DEMI and
    leave one export that serves features."""
    import subprocess

    import tensorflow as tf

    workdir = tmp_path / "multiworker"
    cluster = helpers.local_cluster(2)
    processes, logs = [], []
    try:
        for index in range(2):
            tf_config = json.dumps({"cluster": cluster, "task": {"type": "worker", "index": index}})
            logs.append(tmp_path / f"worker{index}.log")
            processes.append(helpers.start_trainer(
                helpers.REPO_ROOT / "configs" / "cifar_simclr_demi.py:runlocal,synthetic", workdir,
                {"strategy": "multiworker"}, env=helpers.trainer_env(TF_CONFIG=tf_config), log_path=logs[-1],
            ))
        for process in processes:
            process.wait(timeout=600)
    except subprocess.TimeoutExpired:
        pytest.fail("the two workers did not finish:\n" + logs[0].read_text()[-3000:])
    finally:
        for process in processes:
            helpers.stop(process)
    for process, log in zip(processes, logs):
        assert process.returncode == 0, log.read_text()[-5000:]
    records = helpers.read_metrics(workdir)
    assert records and all(np.isfinite(r["train/loss"]) for r in records)
    loaded = tf.saved_model.load(str(workdir / EXPORT / "encoder"))
    features = loaded.serve(tf.random.uniform([2, 32, 32, 3]))
    assert features.shape[0] == 2 and np.all(np.isfinite(features.numpy()))
