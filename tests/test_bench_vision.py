"""tools/bench_vision.py: its options are checked before anything is built, and the
quick measurement times one training step of a vision config end to end."""

import pytest


@pytest.mark.parametrize("argv", [["--warmup", "0"], ["--steps", "0"], ["--quick", "--warmup", "-1"]])
def test_untimed_first_step_and_timed_steps_are_required(argv, helpers, capsys):
    with pytest.raises(SystemExit) as exit_info:
        helpers.load_tool("bench_vision").parse_args(argv)
    assert exit_info.value.code == 2
    assert "must be >= 1" in capsys.readouterr().err



def test_quick_measurement_of_one_config(helpers):
    """One row of the quick table: a SimCLR step and the supervised step of the same
    backbone on the same 8 images, both timed after their untimed first step."""
    tool = helpers.load_tool("bench_vision")
    args = tool.parse_args(["--quick", "--configs", "cifar_simclr", "--batch_sizes", "8", "--steps", "1"])
    row = tool.measure("cifar_simclr", args, 8)
    assert row["backbone"] == "resnet18-w8-cifar" and row["image_size"] == 32 and row["batch_size"] == 8
    assert row["views"] == ["x", "y"]
    assert row["step_ms"] > 0 and row["supervised_step_ms"] > 0
    assert row["images_per_sec"] == pytest.approx(8 / (row["step_ms"] / 1000))
