"""The config files and their generic helpers (tfmi.config_utils): every config loads,
a paper's configs/<paper>/common.py is found whatever the working directory and
whichever loader runs the config, and the ``:ARG`` string parses as documented."""

import json
import subprocess
import sys

import pytest

from tfmi.config_utils import import_beside, load_config, parse_arg

REPO_ROOT = __import__("pathlib").Path(__file__).resolve().parents[1]
CONFIGS = sorted(path.name for path in (REPO_ROOT / "configs").glob("*.py"))


@pytest.mark.parametrize("name", CONFIGS)
def test_every_config_loads_with_its_defaults_and_runlocal(name):
    config = load_config(REPO_ROOT / "configs" / name)
    assert config.experiment and config.model.name and config.optimizer.name
    assert config.total_steps > 0 and config.batch_size > 0
    local = load_config(f"{REPO_ROOT / 'configs' / name}:runlocal")
    assert local.total_steps <= 200  # a seconds-long smoke run


# The trainer's loader (ml_collections.config_flags: SourceFileLoader on the path, no
# package, nothing added to sys.path), run from a directory that is not the repo.
_FLAG_LOADER = """
import json, sys
from absl import flags
from ml_collections import config_flags
config = config_flags.DEFINE_config_file("config")
flags.FLAGS(sys.argv)
print(json.dumps({"experiment": config.value.experiment, "lr": config.value.optimizer.learning_rate}))
"""


@pytest.mark.parametrize(
    "spec, experiment, lr",
    [
        ("imagenet_demi.py:subview=cut,runlocal", "imagenet_demi_cut", 0.03),
        # A variant of a variant: imagenet100_infomin_multi -> imagenet_infomin_multi -> imagenet_demi.
        ("imagenet100_infomin_multi.py:subview=cut,runlocal", "imagenet100_infomin_multi", 0.03),
        ("dialogue_demi.py:bo,preset=gpt2_base_en", "dialogue_demi_bo", 6.25e-5),
        ("mnist_encoder_arch.py:mlp,t=4", "mnist_encoder_arch", 1e-4),
    ],
)
def test_configs_find_their_common_file_from_any_directory(tmp_path, helpers, spec, experiment, lr):
    flag_run = subprocess.run(
        [sys.executable, "-c", _FLAG_LOADER, f"--config={REPO_ROOT / 'configs' / spec}"],
        cwd=tmp_path, env=helpers.trainer_env(), capture_output=True, text=True, timeout=120,
    )
    assert flag_run.returncode == 0, flag_run.stderr[-2000:]
    assert json.loads(flag_run.stdout.splitlines()[-1]) == {"experiment": experiment, "lr": lr}


def test_import_beside_loads_the_file_next_to_the_caller_and_names_a_missing_one(tmp_path):
    (tmp_path / "paper").mkdir()
    (tmp_path / "paper" / "common.py").write_text("VALUE = 3\n")
    assert import_beside(str(tmp_path / "config.py"), "paper/common.py").VALUE == 3
    with pytest.raises(ValueError, match="other/common.py"):
        import_beside(str(tmp_path / "config.py"), "other/common.py")


def test_parse_arg_bare_words_types_and_unknown_keys():
    defaults = dict(bound="nce", k=64, mi=10.0, runlocal=False)
    assert parse_arg(None, **defaults) == defaults
    assert parse_arg("nwj,runlocal", **defaults) == dict(bound="nwj", k=64, mi=10.0, runlocal=True)
    parsed = parse_arg("k=8, mi=5,runlocal=false", **defaults)
    assert parsed == dict(bound="nce", k=8, mi=5.0, runlocal=False)
    assert type(parsed["k"]) is int and type(parsed["mi"]) is float
    with pytest.raises(ValueError, match="Unknown config argument 'negatives'"):
        parse_arg("negatives=x.npz", negatives_path="")
    with pytest.raises(ValueError, match="'k' takes a int"):
        parse_arg("k=many", **defaults)


def test_dialogue_arguments_are_the_field_names():
    path = REPO_ROOT / "configs" / "dialogue_demi.py"
    config = load_config(f"{path}:negatives_path=/data/negatives.npz,mi_weight=0.5,source=wow,path=/data/wow")
    assert config.data.negatives_path == "/data/negatives.npz" and config.model.mi_weight == 0.5
    assert (config.data.source, config.data.path) == ("wow", "/data/wow")
    # The learning rate's default is the value itself: the paper's with a preset, 5e-4 from scratch.
    assert load_config(path).optimizer.learning_rate == 5e-4
    assert load_config(f"{path}:preset=gpt2_base_en").optimizer.learning_rate == 6.25e-5
