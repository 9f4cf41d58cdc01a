"""GPT-2 dialogue models (tfmi.models.dialogue): every loss term against a NumPy
recomputation from the model's own hidden states and embedding; 2 replicas == 1; the
trainer, tools/sample_negatives.py and tools/eval_dialogue.py end to end on tiny models.
"""

import json
import subprocess
import sys
import textwrap

import numpy as np
import pytest

keras_hub = pytest.importorskip("keras_hub")

import keras  # noqa: E402
import tensorflow as tf  # noqa: E402

from tfmi.encoders.gpt2 import concat_padded  # noqa: E402
from tfmi.models.dialogue import DialogueModel  # noqa: E402
from tfmi.models.dialogue_objectives import OBJECTIVES  # noqa: E402
from tfmi.workdir import CHECKPOINTS, CONFIG, EXPORT, METRICS  # noqa: E402

VOCAB = 50


def synthetic_batch(seed=0, rows=4, past=12, future=8, subview=4, negatives=3, vocab=VOCAB):
    """A global batch of the tfmi.data.dialogue contract with random tokens."""
    rng = np.random.default_rng(seed)

    def padded(count, width, shortest):
        lengths = rng.integers(shortest, width + 1, size=count).astype(np.int32)
        ids = np.zeros((count, width), np.int32)
        for row, length in enumerate(lengths):
            ids[row, :length] = rng.integers(1, vocab, size=length)
        return ids, (ids > 0).astype(np.int32), lengths

    past_ids, past_mask, past_length = padded(rows, past, 4)
    future_ids, future_mask, future_length = padded(rows, future, 2)
    subview_length = np.minimum(past_length, subview).astype(np.int32)
    subview_ids = np.zeros((rows, subview), np.int32)
    for row in range(rows):
        start = past_length[row] - subview_length[row]
        subview_ids[row, : subview_length[row]] = past_ids[row, start : past_length[row]]
    lm_ids = np.zeros((rows, past + future), np.int32)
    lm_target = np.zeros((rows, past + future), np.int32)
    for row in range(rows):
        p, f = past_length[row], future_length[row]
        lm_ids[row, :p], lm_ids[row, p : p + f] = past_ids[row, :p], future_ids[row, :f]
        lm_target[row, p - 1 : p + f - 1] = 1
    negative_ids = np.stack([padded(negatives, future, 1)[0] for _ in range(rows)])
    return {
        "past_ids": past_ids, "past_mask": past_mask, "past_length": past_length,
        "future_ids": future_ids, "future_mask": future_mask, "future_length": future_length,
        "subview_ids": subview_ids, "subview_mask": (subview_ids > 0).astype(np.int32),
        "subview_length": subview_length,
        "lm_ids": lm_ids, "lm_mask": (lm_ids > 0).astype(np.int32), "lm_target_mask": lm_target,
        "example_id": np.arange(rows, dtype=np.int64),
        "negative_ids": negative_ids, "negative_mask": (negative_ids > 0).astype(np.int32),
    }


def tiny_backbone(dropout=0.0):
    return keras_hub.models.GPT2Backbone(
        vocabulary_size=VOCAB, num_layers=2, num_heads=2, hidden_dim=16, intermediate_dim=32,
        max_sequence_length=64, dropout=dropout,
    )


def built_model(method, batch, **kwargs):
    keras.utils.set_random_seed(0)
    model = DialogueModel(tiny_backbone(), method=method, **kwargs)
    model.build_from_batch({k: tf.constant(v) for k, v in batch.items()})
    return model


# --- NumPy references -------------------------------------------------------------------


def np_states(model, ids, lengths):
    """Last-layer states of each row run alone, unpadded: a list of [T_i, D]."""
    out = []
    for row, length in zip(ids, lengths):
        token_ids = np.asarray(row[:length], np.int32)[None]
        states = model.backbone({"token_ids": token_ids, "padding_mask": np.ones_like(token_ids)})
        out.append(np.asarray(states)[0])
    return out


def np_log_softmax(logits):
    shifted = logits - logits.max(-1, keepdims=True)
    return shifted - np.log(np.exp(shifted).sum(-1, keepdims=True))


def np_nll(model, first, first_length, second, second_length):
    """sum and count of -log p(second tokens | first ⊕ earlier second tokens)."""
    embedding = np.asarray(model.backbone.token_embedding.embeddings)
    total, count = 0.0, 0
    for row in range(len(first)):
        a, b = first[row][: first_length[row]], second[row][: second_length[row]]
        sequence = np.concatenate([a, b])
        states = np_states(model, [sequence], [len(sequence)])[0]
        log_probs = np_log_softmax(states @ embedding.T)
        for j in range(len(b)):
            total -= log_probs[len(a) + j - 1, b[j]]
            count += 1
    return total, count


def np_last(model, ids, lengths):
    return np.stack([s[-1] for s in np_states(model, ids, lengths)])


def np_infonce(scores):
    """mean_i [s_ii - log sum_j e^{s_ij}] + log B, and the top-1 accuracy."""
    log_norm = np.log(np.exp(scores - scores.max(1, keepdims=True)).sum(1)) + scores.max(1)
    value = np.mean(np.diag(scores) - log_norm) + np.log(len(scores))
    off = scores - np.diag(np.full(len(scores), np.inf))
    return value, np.mean(np.diag(scores) > off.max(1))


def np_candidates_nce(positive, negatives):
    """mean_i [p_i - log(e^{p_i} + sum_k e^{n_ik})] + log K, and the accuracy."""
    candidates = np.concatenate([positive[:, None], negatives], axis=1)
    top = candidates.max(1)
    log_norm = np.log(np.exp(candidates - top[:, None]).sum(1)) + top
    return np.mean(positive - log_norm) + np.log(candidates.shape[1]), np.mean(positive > negatives.max(1))


@pytest.fixture(scope="module")
def batch():
    return synthetic_batch()


def forward(model, batch):
    return {k: float(v) for k, v in model.forward({k: tf.constant(v) for k, v in batch.items()}).items()}


def test_concat_padded_matches_numpy(batch):
    ids, mask, target = [np.asarray(t) for t in concat_padded(
        batch["future_ids"], batch["future_length"], batch["past_ids"], batch["past_length"]
    )]
    for row in range(len(ids)):
        f, p = batch["future_length"][row], batch["past_length"][row]
        expected = np.concatenate([batch["future_ids"][row, :f], batch["past_ids"][row, :p]])
        np.testing.assert_array_equal(ids[row, : f + p], expected)
        assert not ids[row, f + p :].any() and mask[row].sum() == f + p and mask[row, : f + p].all()
        np.testing.assert_array_equal(np.flatnonzero(target[row]), np.arange(f - 1, f + p - 1))


def test_lm_loss_is_the_masked_token_nll(batch):
    model = built_model("lm", batch)
    out = forward(model, batch)
    total, count = np_nll(model, batch["past_ids"], batch["past_length"], batch["future_ids"], batch["future_length"])
    assert out["lm_tokens"] == count == batch["future_length"].sum()
    np.testing.assert_allclose(out["lm_nll_sum"], total, rtol=1e-4)
    np.testing.assert_allclose(out["lm_loss"], total / count, rtol=1e-4)
    np.testing.assert_allclose(out["loss"], total / count, rtol=1e-4)


def test_backward_model_scores_the_past_given_the_future(batch):
    model = built_model("backward", batch)
    out = forward(model, batch)
    total, count = np_nll(model, batch["future_ids"], batch["future_length"], batch["past_ids"], batch["past_length"])
    assert out["lm_tokens"] == count
    np.testing.assert_allclose(out["lm_loss"], total / count, rtol=1e-4)
    # sequence_log_prob is what GPT2-MMI reranks by: the same sums per row.
    per_row = np.asarray(model.sequence_log_prob(
        batch["future_ids"], batch["future_length"], batch["past_ids"], batch["past_length"]
    ))
    np.testing.assert_allclose(-per_row.sum(), total, rtol=1e-4)


def test_infonce_term_uses_the_dot_product_of_last_token_states(batch):
    model = built_model("infonce", batch, mi_weight=0.3)
    out = forward(model, batch)
    # f(x) from a pass over the past alone (the model reads it off the LM pass).
    fx = np_last(model, batch["past_ids"], batch["past_length"])
    fy = np_last(model, batch["future_ids"], batch["future_length"])
    nce, accuracy = np_infonce(fx @ fy.T)
    total, count = np_nll(model, batch["past_ids"], batch["past_length"], batch["future_ids"], batch["future_length"])
    np.testing.assert_allclose(out["mi_nce"], nce, rtol=1e-4, atol=1e-5)
    assert out["acc_nce"] == pytest.approx(accuracy)
    np.testing.assert_allclose(out["loss"], total / count - 0.3 * nce, rtol=1e-4, atol=1e-5)
    assert model.periodic_metrics(0) == {"chance_nce": 0.25} and model.periodic_metrics(10) == {}


def test_demi_conditional_term_ranks_the_future_among_sampled_negatives(batch):
    model = built_model("demi", batch)
    out = forward(model, batch)
    fx = np_last(model, batch["past_ids"], batch["past_length"])
    fy = np_last(model, batch["future_ids"], batch["future_length"])
    rows, count, _ = batch["negative_ids"].shape
    negative_lengths = batch["negative_mask"].sum(-1)
    fneg = np_last(model, batch["negative_ids"].reshape(rows * count, -1), negative_lengths.reshape(-1))
    fneg = fneg.reshape(rows, count, -1)
    cond, cond_accuracy = np_candidates_nce((fx * fy).sum(-1), np.einsum("bd,bkd->bk", fx, fneg))
    nce, _ = np_infonce(fx @ fy.T)
    total, tokens = np_nll(model, batch["past_ids"], batch["past_length"], batch["future_ids"], batch["future_length"])
    np.testing.assert_allclose(out["mi_cond"], cond, rtol=1e-4, atol=1e-5)
    assert out["acc_cond"] == pytest.approx(cond_accuracy)
    np.testing.assert_allclose(out["mi"], nce + cond, rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(out["loss"], total / tokens - 0.1 * (nce + cond), rtol=1e-4, atol=1e-5)
    assert model.periodic_metrics(0) == {"chance_nce": 0.25, "chance_cond": 0.25}


def test_demi_bo_boosts_the_past_critic_by_the_subview_critic(batch):
    model = built_model("demi_bo", batch)
    out = forward(model, batch)
    fx = np_last(model, batch["past_ids"], batch["past_length"])
    fxs = np_last(model, batch["subview_ids"], batch["subview_length"])
    fy = np_last(model, batch["future_ids"], batch["future_length"])
    psi, phi = fxs @ fy.T, fx @ fy.T
    nce_subview, _ = np_infonce(psi)
    boosted, boosted_accuracy = np_infonce(psi + phi)
    np.testing.assert_allclose(out["mi_nce_subview"], nce_subview, rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(out["mi_bo"], boosted, rtol=1e-4, atol=1e-5)
    assert out["acc_bo"] == pytest.approx(boosted_accuracy)


def test_transfertransfo_head_picks_the_true_future_over_the_next_rows(batch):
    model = built_model("transfertransfo", batch, num_distractors=2)
    out = forward(model, batch)
    kernel, bias = [np.asarray(w) for w in model.nsp_head.weights]
    rows = len(batch["past_ids"])
    logits = np.zeros((rows, 3))
    for shift in range(3):
        other = (np.arange(rows) + shift) % rows
        sequences = [
            np.concatenate([batch["past_ids"][i, : batch["past_length"][i]],
                            batch["future_ids"][j, : batch["future_length"][j]]])
            for i, j in zip(range(rows), other)
        ]
        last = np_last(model, sequences, [len(s) for s in sequences])
        logits[:, shift] = (last @ kernel)[:, 0] + bias[0]
    nsp_loss = -np.mean(np_log_softmax(logits)[:, 0])
    total, tokens = np_nll(model, batch["past_ids"], batch["past_length"], batch["future_ids"], batch["future_length"])
    np.testing.assert_allclose(out["nsp_loss"], nsp_loss, rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(out["loss"], total / tokens + 0.5 * nsp_loss, rtol=1e-4, atol=1e-5)
    assert model.periodic_metrics(0) == {"chance_nsp": pytest.approx(1 / 3)}


def test_demi_without_negatives_names_the_tool(batch):
    without = {k: v for k, v in batch.items() if not k.startswith("negative")}
    with pytest.raises(ValueError, match="sample_negatives"):
        built_model("demi", without)


def test_past_must_prefix_the_lm_sequence(batch):
    broken = dict(batch, lm_ids=np.roll(batch["lm_ids"], 1, axis=1))
    with pytest.raises(ValueError, match="start with the past"):
        built_model("infonce", broken)


def test_unknown_method_is_refused():
    with pytest.raises(ValueError, match="Unknown dialogue method"):
        DialogueModel(tiny_backbone(), method="mmi")


@pytest.mark.parametrize("method", sorted(OBJECTIVES))
def test_each_objective_logs_what_it_declares_and_restores_without_a_batch(method, batch):
    """The objective's metric names are what forward returns; the chance levels are
    logged once; a model built without a batch has the trained model's variables."""
    model = built_model(method, batch)
    assert type(model.objective) is OBJECTIVES[method]
    assert set(forward(model, batch)) == set(model.metric_names)
    chance = model.periodic_metrics(0)
    assert {name[len("chance_"):] for name in chance} == {
        name[len("acc_"):] for name in model.metric_names if name.startswith("acc_")
    }
    assert model.periodic_metrics(1) == {}
    fresh = DialogueModel(tiny_backbone(), method=method).build_for_inference()
    assert [v.path.split("/", 1)[-1] for v in fresh.variables] == [
        v.path.split("/", 1)[-1] for v in model.variables
    ]
    assert model.objective.generates_responses == (method != "backward")


def test_gradients_reach_the_backbone_through_every_term(batch):
    model = built_model("demi", batch)
    tensors = {k: tf.constant(v) for k, v in batch.items()}
    with tf.GradientTape() as tape:
        loss = model.forward(tensors, training=True)["loss"]
    grads = tape.gradient(loss, model.trainable_variables)
    assert all(g is not None for g in grads)
    assert np.isfinite(float(loss))


def test_generate_continues_each_prompt_and_stops(batch):
    from tfmi.evaluation.dialogue import Generator

    model = built_model("lm", batch)
    generator = Generator(model, keras_hub.samplers.TopPSampler(p=0.9, seed=1))
    ids, mask = generator(batch["past_ids"], batch["past_length"], 6, stop_token_ids=[7])
    assert ids.shape == (4, 6) and mask.dtype == bool
    assert not (ids[mask] == 7).any()  # the stop token is cut
    assert (ids[~mask] == 0).all()
    # Greedy decoding equals the argmax of the model's own next-token logits.
    greedy, _ = Generator(model, keras_hub.samplers.GreedySampler())(batch["past_ids"][:1], batch["past_length"][:1], 1)
    p = batch["past_length"][0]
    states = np_states(model, batch["past_ids"][:1], [p])[0]
    expected = np.argmax(states[-1] @ np.asarray(model.backbone.token_embedding.embeddings).T)
    assert greedy[0, 0] == expected


# --- 2 replicas == 1 replica --------------------------------------------------------------

REPLICA_SCRIPT = textwrap.dedent(
    """
    import json, sys
    import tensorflow as tf
    cpu = tf.config.list_physical_devices("CPU")[0]
    tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)
    import keras, numpy as np
    sys.path.insert(0, sys.argv[1])
    from test_dialogue_model import synthetic_batch, tiny_backbone
    from tfmi import distribute
    from tfmi.models.dialogue import DialogueModel

    batch = synthetic_batch(rows=4)
    dataset = lambda: tf.data.Dataset.from_tensors({k: tf.constant(v) for k, v in batch.items()}).repeat()
    # One MirroredStrategy for the whole process: a second one would reuse the first's
    # collective instance keys and mismatch its collectives.
    strategies = [tf.distribute.get_strategy(), distribute.make_strategy("mirrored")]
    results = {}
    for method in ["infonce", "demi", "demi_bo", "transfertransfo", "backward"]:
        per_strategy = []
        for strategy in strategies:
            with strategy.scope():
                keras.utils.set_random_seed(0)
                model = DialogueModel(tiny_backbone(), method=method)
                model.build_from_batch({k: tf.constant(v) for k, v in batch.items()})
            replicas = strategy.num_replicas_in_sync
            iterator = iter(distribute.distribute_global_batches(strategy, dataset))

            @tf.function
            def step(local):
                def fn(local):
                    with tf.GradientTape() as tape:
                        out = model.forward(local, training=False)
                        scaled = out["loss"] / replicas
                    grads = tape.gradient(scaled, model.trainable_variables)
                    return out, grads
                out, grads = strategy.run(fn, args=(local,))
                grads = [strategy.reduce("SUM", g, axis=None) for g in grads]
                out = {k: strategy.experimental_local_results(v)[0] for k, v in out.items()}
                return out, grads
            out, grads = step(next(iterator))
            per_strategy.append(({k: float(v) for k, v in out.items()},
                                 [np.asarray(tf.convert_to_tensor(g)).ravel().tolist() for g in grads]))
        results[method] = {"replicas": strategy.num_replicas_in_sync, "one": per_strategy[0][0],
                           "two": per_strategy[1][0],
                           "grad_diff": max(float(np.max(np.abs(np.subtract(a, b))))
                                            for a, b in zip(per_strategy[0][1], per_strategy[1][1])),
                           "grad_scale": max(float(np.max(np.abs(a))) for a in per_strategy[0][1])}
    print("RESULT" + json.dumps(results))
    """
)


@pytest.fixture(scope="module")
def replica_results(tmp_path_factory):
    import os
    from pathlib import Path

    tests_dir = Path(__file__).resolve().parent
    script = tmp_path_factory.mktemp("replicas") / "script.py"
    script.write_text(REPLICA_SCRIPT)
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(tests_dir.parent), str(tests_dir)]),
               TF_CPP_MIN_LOG_LEVEL="2", CUDA_VISIBLE_DEVICES="")
    done = subprocess.run([sys.executable, str(script), str(tests_dir)], capture_output=True, text=True,
                          env=env, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    line = [line for line in done.stdout.splitlines() if line.startswith("RESULT")][-1]
    return json.loads(line[len("RESULT"):])


@pytest.mark.slow  # one subprocess, ~1 min of CPU for the five methods
@pytest.mark.parametrize("method", ["infonce", "demi", "demi_bo", "transfertransfo", "backward"])
def test_two_replicas_give_the_one_replica_loss_and_gradients(replica_results, method):
    result = replica_results[method]
    assert result["replicas"] == 2
    for name, value in result["one"].items():
        assert result["two"][name] == pytest.approx(value, rel=1e-4, abs=1e-5), name
    assert result["grad_diff"] <= 1e-4 * max(result["grad_scale"], 1.0)


# --- tools and trainer, end to end on tiny models --------------------------------------

REPO_ROOT = __import__("pathlib").Path(__file__).resolve().parents[1]
RUNLOCAL = {name: f"{REPO_ROOT}/configs/dialogue_{name}.py:runlocal"
            for name in ("gpt2", "transfertransfo", "mmi", "infonce", "demi")}


def _untrained_workdir(path, config_spec):
    """A workdir with config.json and a checkpoint of a fresh tiny model (what
    the trainer writes, without training): the input of the evaluation tools."""
    from tfmi.config_utils import load_config
    from tfmi.models import build_model

    config = load_config(config_spec)
    keras.utils.set_random_seed(0)
    model = build_model(config.model).build_for_inference()
    path.mkdir(parents=True)
    (path / CONFIG).write_text(config.to_json())
    tf.train.Checkpoint(model=model).save(str(path / CHECKPOINTS / "ckpt"))  # ckpt-1
    return path


@pytest.fixture(scope="module")
def negatives_file(tmp_path_factory, helpers):
    out = tmp_path_factory.mktemp("negatives") / "negatives.npz"
    helpers.load_tool("sample_negatives").main(
        ["--fresh", "--config", RUNLOCAL["demi"], "--out", str(out), "--batch-size", "32", "--top-k", "50"]
    )
    return out


def test_sample_negatives_writes_futures_aligned_with_the_examples(negatives_file):
    from tfmi.config_utils import load_config
    from tfmi.data.dialogue import END_OF_TEXT_ID, examples_from_config

    config = load_config(RUNLOCAL["demi"])
    examples = examples_from_config(config.data)
    with np.load(negatives_file) as saved:
        example_id, ids, lengths = saved["example_id"], saved["negative_ids"], saved["negative_length"]
    np.testing.assert_array_equal(example_id, examples.example_id)
    assert ids.shape == (len(examples), config.data.num_negatives, config.data.max_future_tokens)
    assert (lengths >= 1).all() and (lengths <= ids.shape[2]).all()
    for i in range(len(examples)):
        for n in range(ids.shape[1]):
            negative = ids[i, n, : lengths[i, n]]
            assert not ids[i, n, lengths[i, n]:].any()
            # Formatted like a true future: at most as many utterances, each of at most
            # max_utterance_tokens tokens and closed by <|endoftext|>.
            ends = np.flatnonzero(negative == END_OF_TEXT_ID)
            assert negative[-1] == END_OF_TEXT_ID and 1 <= len(ends) <= examples.num_future[i]
            assert np.diff(np.concatenate([[-1], ends])).max() - 1 <= config.data.max_utterance_tokens
    assert not __import__("os").path.exists(f"{negatives_file}.partial.npz")


def test_format_future_closes_every_utterance_and_keeps_whole_ones():
    from tfmi.data.dialogue import format_future
    end = 9
    # Two utterances wanted: the second, unfinished, is closed; the rest is dropped.
    np.testing.assert_array_equal(format_future([1, 2, end, 3, 4, 5], 2, 10, 20, end), [1, 2, end, 3, 4, 5, end])
    np.testing.assert_array_equal(format_future([1, 2, end, 3, end, 6], 1, 10, 20, end), [1, 2, end])
    # Utterances cut to max_utterance_tokens; the limit keeps whole utterances.
    np.testing.assert_array_equal(format_future([1, 2, 3, end, 4, end], 2, 2, 20, end), [1, 2, end, 4, end])
    np.testing.assert_array_equal(format_future([1, 2, end, 3, 4, end], 2, 10, 5, end), [1, 2, end])
    # A first utterance over the limit: its first limit - 1 tokens and the end token.
    np.testing.assert_array_equal(format_future([1, 2, 3, 4, 5, 6], 1, 10, 4, end), [1, 2, 3, end])


def test_eval_dialogue_reports_every_metric_beside_the_paper(tmp_path, capsys, helpers):
    forward = _untrained_workdir(tmp_path / "gpt2", RUNLOCAL["gpt2"])
    backward = _untrained_workdir(tmp_path / "mmi", RUNLOCAL["mmi"])
    out = tmp_path / "eval.json"
    helpers.load_tool("eval_dialogue").main([
        str(forward), "--backward", str(backward), "--max-examples", "4", "--batch-size", "4",
        "--max-new-tokens", "6", "--mmi-samples", "3", "--top-k", "50", "--out", str(out),
    ])
    printed = capsys.readouterr().out
    assert "| GPT2 |" in printed and "| GPT2-MMI |" in printed and "19.21" in printed
    result = json.loads(out.read_text())
    rows = {row["model"]: row for row in result["rows"]}
    assert set(rows) == {"GPT2", "GPT2-MMI", "Ground Truth"}
    for name in ("ppl", "seq_rep_avg", "rep", "wrep", "uniq", "dist_1", "dist_2", "bleu", "entropy_4"):
        assert rows["GPT2"][name] is not None, name
    # An untrained model over 50,257 tokens: perplexity near the vocabulary size.
    assert 1e4 < rows["GPT2"]["ppl"] < 2e5
    assert rows["GPT2"]["examples"] == 4


def _train(config, workdir, *overrides, timeout=600):
    import os

    env = dict(os.environ, PYTHONPATH=str(REPO_ROOT), TF_CPP_MIN_LOG_LEVEL="2", CUDA_VISIBLE_DEVICES="")
    env.pop("TF_CONFIG", None)
    return subprocess.run(
        [sys.executable, "-m", "trainers.train", "--config", config, "--workdir", str(workdir), *overrides],
        cwd=REPO_ROOT, env=env, capture_output=True, text=True, timeout=timeout,
    )


@pytest.mark.slow  # two trainer subprocesses per config, ~20-60 s each on a busy CPU
@pytest.mark.parametrize("name", ["gpt2", "transfertransfo", "mmi", "infonce", "demi", "demi_bo"])
def test_runlocal_trains_checkpoints_resumes_and_exports(name, tmp_path, negatives_file):
    config = RUNLOCAL["demi"] + ",bo" if name == "demi_bo" else RUNLOCAL[name]
    if name == "demi":
        config += f",negatives_path={negatives_file}"
    done = _train(config, tmp_path)
    assert done.returncode == 0, done.stderr[-3000:]
    records = [json.loads(line) for line in (tmp_path / METRICS).read_text().splitlines()]
    assert records[-1]["step"] == 4 and np.isfinite(records[-1]["train/loss"])
    assert (tmp_path / CHECKPOINTS / "ckpt-4.index").exists()
    assert (tmp_path / EXPORT / "backbone").is_dir() and (tmp_path / EXPORT / "lm").is_dir()
    if name in ("infonce", "demi"):
        assert records[0] == {"step": 0, "chance_nce": 0.25, **({"chance_cond": 0.25} if name == "demi" else {})}
    resumed = _train(config, tmp_path, "--config.total_steps=6")
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    assert "Resumed from" in resumed.stderr
    records = [json.loads(line) for line in (tmp_path / METRICS).read_text().splitlines()]
    assert records[-1]["step"] == 6
    # The export serves the restored backbone.
    served = tf.saved_model.load(str(tmp_path / EXPORT / "backbone")).signatures["serve"]
    ids = tf.constant([[5, 6, 7]], tf.int32)
    states = list(served(token_ids=ids, padding_mask=tf.ones_like(ids)).values())[0]
    from tfmi.evaluation.dialogue import restore_run

    _, model = restore_run(tmp_path)
    np.testing.assert_allclose(states.numpy(), model.states(ids, tf.ones_like(ids)).numpy(), rtol=1e-4, atol=1e-5)


def test_demi_with_the_subview_critic_scores_x_prime_in_the_unconditional_term(batch):
    model = built_model("demi", batch, unconditional="subview")
    out = forward(model, batch)
    fxs = np_last(model, batch["subview_ids"], batch["subview_length"])
    fy = np_last(model, batch["future_ids"], batch["future_length"])
    nce, accuracy = np_infonce(fxs @ fy.T)
    np.testing.assert_allclose(out["mi_nce"], nce, rtol=1e-4, atol=1e-5)
    assert out["acc_nce"] == pytest.approx(accuracy)
