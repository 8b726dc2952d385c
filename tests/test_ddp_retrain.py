"""Data-parallel retraining goes through DistributedDataParallel and matches one process step for step."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap

import pytest
import torch

pytestmark = pytest.mark.distributed
if not torch.distributed.is_available():  # pragma: no cover
    pytest.skip("torch without torch.distributed", allow_module_level=True)

from test_distributed import env, free_port  # noqa: E402  (the same launcher settings as the search tests)

# one worker script for both runs: retrain a fixed NAS-Bench-201 cell on digits (no augmentation), record the
# global batch's loss after every step (the mean of the ranks' shard losses: the shards are equal)
SCRIPT = textwrap.dedent("""
    import json, sys
    import torch
    from nasplug import distributed
    from nasplug.config import TrainConfig
    from nasplug.train import Trainer

    genotype = {"space": "nb201", "space_options": {"C": 4, "N": 1},
                "genotype": "|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_1x1~1|+|nor_conv_3x3~0|nor_conv_1x1~1|nor_conv_3x3~2|"}
    config = TrainConfig(data="digits", epochs=1, batch_size=32, lr=0.05, threads=1, seed=3, sync_batchnorm=True,
                         space_options={"C": 4, "N": 1})
    losses = []
    trainer = Trainer(genotype, config, write_files=False,
                      callbacks=[lambda t, event: event == "step" and losses.append(t.dist.mean(t.last_step_loss))])
    ddp = isinstance(trainer.net, torch.nn.parallel.DistributedDataParallel)
    trainer.run()
    if trainer.dist.writes_files:
        json.dump({"losses": losses, "ddp": ddp, "world": trainer.dist.world_size}, open(sys.argv[1], "w"))
    distributed.shutdown(finished=True)
""")


def _retrain(tmp_path, nproc: int) -> dict:
    script, out = tmp_path / "retrain.py", tmp_path / f"losses{nproc}.json"
    script.write_text(SCRIPT)
    launcher = [] if nproc == 1 else ["-m", "torch.distributed.run", "--nproc-per-node", str(nproc),
                                      "--master-addr", "127.0.0.1", "--master-port", str(free_port())]
    proc = subprocess.run([sys.executable, *launcher, str(script), str(out)], env=env(), cwd=tmp_path,
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return json.loads(out.read_text())


def test_two_process_retraining_runs_through_ddp_and_matches_one_process_for_20_steps(tmp_path):
    one, two = _retrain(tmp_path, 1), _retrain(tmp_path, 2)
    assert two["ddp"] and two["world"] == 2 and not one["ddp"]
    assert len(one["losses"]) >= 20 and len(two["losses"]) == len(one["losses"])
    for step, (a, b) in enumerate(zip(one["losses"][:20], two["losses"][:20])):
        assert abs(a - b) <= 1e-5, f"step {step}: one process {a}, two processes {b}"
