import pytest
import torch

from nasplug import registry
from nasplug.errors import ConfigError
from nasplug_tunas.random_baseline import main, rejection_sample


def test_rejection_sampling_stays_within_tolerance():
    space = registry.get("space", "nb201", C=4, N=1)
    model = registry.get("latency_model", "flops")
    model.prepare(space, (1, 8, 8), 10)
    g = torch.Generator().manual_seed(0)
    costs = [model.predict(space.sample(g)) for _ in range(200)]
    target = sorted(costs)[100]
    picks = rejection_sample(space, model, target, 0.002, 10, torch.Generator().manual_seed(1))
    assert len(picks) == 10 and len({tuple(sorted(p.items())) for p in picks}) == 10
    assert all(abs(model.predict(p) - target) <= 0.002 for p in picks)
    with pytest.raises(ConfigError, match="widen"):
        rejection_sample(space, model, 1e6, 0.001, 1, g, max_tries=50)


@pytest.mark.slow
def test_cli_entry_trains_candidates_and_the_best(tmp_path, capsys):
    rc = main(["--space", "nb201", "--space-option", "C=4", "--space-option", "N=1", "--latency-model", "flops",
               "--latency-target", "0.1", "--tolerance", "1.0", "--n", "2", "--epochs", "1", "--final-epochs", "1",
               "--runs-root", str(tmp_path)])
    assert rc == 0
    import json
    out = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert len(out["candidates"]) == 2 and 0.0 <= out["best_test_accuracy"] <= 1.0


@pytest.mark.slow
def test_python_dash_m_prints_each_candidates_progress(tmp_path):
    """Under ``python -m`` the module is ``__main__``; its per-candidate lines must still reach the console."""
    import subprocess
    import sys

    proc = subprocess.run([sys.executable, "-m", "nasplug_tunas.random_baseline", "--space", "nb201",
                           "--space-option", "C=4", "--space-option", "N=1", "--latency-model", "flops",
                           "--latency-target", "0.1", "--tolerance", "1.0", "--n", "2", "--epochs", "1",
                           "--final-epochs", "1", "--batch-size", "128", "--runs-root", str(tmp_path)],
                          capture_output=True, text=True, timeout=300, env={**__import__("os").environ,
                                                                            "OMP_NUM_THREADS": "1"})
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "candidate 1/2:" in proc.stderr and "candidate 2/2:" in proc.stderr
