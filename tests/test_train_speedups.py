"""Retraining speed options: bf16 autocast, fp16 refused on CPU, DataLoader workers, pinning, torch.compile."""

import json
import math
import os

import pytest
import torch

from nasplug.cli import main
from nasplug.config import TrainConfig
from nasplug.errors import ConfigError
from nasplug.train import Trainer

TINY = {"C": 4, "N": 1}
RECORD = {"space": "nb201", "space_options": TINY,
          "genotype": "|nor_conv_3x3~0|+|skip_connect~0|nor_conv_1x1~1|+|skip_connect~0|none~1|avg_pool_3x3~2|"}


def _trainer(**options):
    config = TrainConfig(epochs=1, batch_size=64, space_options=TINY, seed=3, data_options={"limit_train": 384},
                         **options)
    return Trainer(RECORD, config, write_files=False)


def test_bf16_autocast_retraining_runs_in_bfloat16_with_a_finite_loss():
    trainer = _trainer(amp="bf16")
    seen = []
    trainer.model.register_forward_hook(lambda module, inputs, output: seen.append(output.dtype))
    result = trainer.run()
    assert torch.bfloat16 in seen  # the training steps ran under autocast
    assert math.isfinite(trainer.history[0]["train_loss"]) and 0.0 <= result.test_accuracy <= 1.0
    assert all(p.dtype == torch.float32 for p in trainer.model.parameters())  # weights stay float32


def test_fp16_on_cpu_is_refused_with_the_alternative(tmp_path, capsys):
    with pytest.raises(ConfigError, match="amp='fp16' needs a CUDA device.*use amp='bf16' on a CPU"):
        _trainer(amp="fp16")
    genotype = tmp_path / "genotype.json"
    genotype.write_text(json.dumps(RECORD))
    assert main(["train", str(genotype), "--amp", "fp16", "--epochs", "1", "--run-dir", str(tmp_path / "t")]) == 2
    assert "nasplug: error: amp='fp16' needs a CUDA device" in capsys.readouterr().err
    assert not (tmp_path / "t").exists()  # refused before building anything
    with pytest.raises(ConfigError, match="TrainConfig.amp must be one of None, 'bf16', 'fp16'; got 'fp32'"):
        TrainConfig(amp="fp32")


def test_pinning_is_for_cuda_only():
    with pytest.raises(ConfigError, match="pin_memory=True only helps copies to a CUDA device"):
        _trainer(pin_memory=True)
    assert _trainer().train_loader.pin_memory is False  # auto: off on a CPU


def _weights(trainer):
    return torch.cat([p.detach().flatten() for p in trainer.model.parameters()])


def test_two_workers_give_the_same_training_as_none_for_a_fixed_seed():
    serial, workers = _trainer(num_workers=0, augment=False), _trainer(num_workers=2, augment=False)
    serial.run(), workers.run()
    assert workers.train_loader.num_workers == 2
    assert serial.history[0]["train_loss"] == workers.history[0]["train_loss"]
    assert torch.equal(_weights(serial), _weights(workers))


def test_workers_with_augmentation_repeat_run_to_run():
    first, second = _trainer(num_workers=2, augment=True), _trainer(num_workers=2, augment=True)
    first.run(), second.run()
    assert torch.equal(_weights(first), _weights(second))


@pytest.mark.skipif(os.environ.get("NASPLUG_TEST_COMPILE") != "1",
                    reason="torch.compile takes minutes on a CPU (2 min wall for a 2-layer net on the 2-core CI "
                           "machine); set NASPLUG_TEST_COMPILE=1 to run it")
def test_compiled_child_trains_and_checkpoints_the_plain_module():
    trainer = _trainer(compile=True)
    trainer.run()
    assert trainer.net is not trainer.model
    assert not any(k.startswith("_orig_mod") for k in trainer.state_dict()["model"])
    assert math.isfinite(trainer.history[0]["train_loss"])
