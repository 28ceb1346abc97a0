"""The harness's options: the toolkit's names and defaults, our device choice, refusals."""
from __future__ import annotations

import subprocess
import sys

import pytest

from modulespack.train.options import (
    OptionError,
    build_parser,
    check_options,
    resolve_device,
)

#: every option the issue lists, with the toolkit's default
TOOLKIT_DEFAULTS = {
    "epochs": 50, "no_best_epochs": 5, "batch_size": 1, "lr": 0.0001, "lr_decay_factor": -1.0,
    "lr_scheduler_type": 0, "lr_patience": 5, "grad_clip_norm": -1.0, "size_accumulate_grad": 1,
    "optimizer": "Adam", "seed": 1, "num_workers": 0, "sampler": "None", "module_model": "model",
    "module_config": "config", "trained_model": "", "ignore_training_history_in_trained_model": False,
    "ignore_optimizer_statistics_in_trained_model": False, "allow_mismatched_pretrained_model": False,
    "not_save_each_epoch": False, "inference": False, "output_filename_prefix": "",
    "inference_data_list": "", "trunc_input_length_for_inference": -1, "trunc_input_overlap": 5,
    "ignore_cached_file_infor": False, "no_cuda": False, "model_forward_with_target": False,
    "model_forward_with_file_name": False, "shuffle": True, "save_trained_name": "trained_network",
    "save_epoch_name": "epoch", "save_model_ext": ".pt", "temp_flag": "",
}


def test_defaults_are_the_toolkits():
    args = build_parser().parse_args([])
    for name, value in TOOLKIT_DEFAULTS.items():
        assert getattr(args, name) == value, name


def test_toolkit_command_line_parses():
    # the hn-nsf recipe's own command line
    args = build_parser().parse_args(
        ["--num-workers", "3", "--epochs", "100", "--no-best-epochs", "50", "--batch-size", "1", "--sampler", "block_shuffle_by_length", "--lr-decay-factor", "0.5", "--lr-scheduler-type", "1", "--lr", "0.0003", "--seed", "1000", "--ignore-cached-file-infor", "--no-cuda", "--shuffle", "--output-dir", "out", "--save-model-dir", "models"])
    assert (args.num_workers, args.epochs, args.lr, args.seed) == (3, 100, 0.0003, 1000)
    assert args.shuffle is False          # the toolkit's --shuffle turns shuffling off
    assert args.sampler == "block_shuffle_by_length" and args.no_cuda


def test_device_choice():
    torch = pytest.importorskip("torch")
    p = build_parser()
    assert resolve_device(p.parse_args(["--no-cuda"])) == "cpu"
    assert resolve_device(p.parse_args(["--device", "cpu"])) == "cpu"
    assert resolve_device(p.parse_args([])) == ("cuda" if torch.cuda.is_available() else "cpu")
    if not torch.cuda.is_available():
        with pytest.raises(OptionError, match="--device cuda"):
            resolve_device(p.parse_args(["--device", "cuda"]))
    with pytest.raises(OptionError, match="--device"):
        resolve_device(p.parse_args(["--device", "warp-drive"]))


@pytest.mark.parametrize("argv, word", [
    (["--batch-size", "0"], "--batch-size"),
    (["--lr", "0"], "--lr"),
    (["--num-workers", "-1"], "--num-workers must not be negative, got -1"),
    (["--sampler", "random"], "--sampler"),
    (["--way-to-merge-datasets", "batch_merge"], "--way-to-merge-datasets"),
    (["--inference", "--inference-sample-start-index", "3", "--inference-sample-end-index", "3"],
     "--inference-sample-start-index 3"),
])
def test_refused_values_name_the_option(argv, word):
    with pytest.raises(OptionError, match=word):
        check_options(build_parser().parse_args(argv))


def test_an_index_range_is_checked_only_when_bounded():
    check_options(build_parser().parse_args(["--inference", "--inference-sample-start-index", "5"]))


def test_unknown_optimizer_is_a_usage_error():
    with pytest.raises(SystemExit) as e:
        build_parser().parse_args(["--optimizer", "Lion"])
    assert e.value.code == 2


def test_help_does_not_import_torch():
    code = ("import sys; from modulespack.cli import main; import contextlib, io\n"
            "with contextlib.redirect_stdout(io.StringIO()):\n"
            "    main(['--help']); main(['train', '--help']); main(['infer', '--help'])\n"
            "print('torch' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "False"
