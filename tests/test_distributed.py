"""Data-parallel search on torch.distributed: 2 CPU processes, gloo, torch's own launcher.

Every test launches real processes (``python -m torch.distributed.run`` or
``nasplug search --nproc 2``) on tiny NAS-Bench-201 searches over the digits
data; they take ~10 s each on an idle 2-core machine.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
import torch

from rundir_helpers import stderr_after

pytestmark = pytest.mark.distributed
pytest.importorskip("torch.distributed")
if not torch.distributed.is_available():  # pragma: no cover
    pytest.skip("torch without torch.distributed", allow_module_level=True)

TINY = ["--space", "nb201", "--data", "digits", "--space-option", "C=4", "--space-option", "N=1",
        "--steps-per-epoch", "3", "--batch-size", "16", "--threads", "1", "--eval-batches", "2", "--seed", "1",
        "--quiet"]
GDAS = ["--strategy", "gdas", "--epochs", "2", "--sync-batchnorm"]
RANDOM = ["--strategy", "random", "--epochs", "2", "--sync-batchnorm", "--optimizer-option", "num_candidates=6",
          "--optimizer-option", "top_k=2", "--valid-batch-size", "64"]


def env() -> dict[str, str]:
    return {**os.environ, "OMP_NUM_THREADS": "1", "NASPLUG_DIST_TIMEOUT": "60"}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def torchrun(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    """``torchrun --nproc-per-node 2 ARGS`` with torch's own launcher."""
    cmd = [sys.executable, "-m", "torch.distributed.run", "--nproc-per-node", "2", "--master-addr", "127.0.0.1",
           "--master-port", str(free_port()), *args]
    return subprocess.run(cmd, cwd=cwd, env=env(), capture_output=True, text=True, timeout=300)


def nasplug(*args: str, cwd: Path, check: bool = True) -> subprocess.CompletedProcess:
    proc = subprocess.run([sys.executable, "-m", "nasplug", *args], cwd=cwd, env=env(), capture_output=True,
                          text=True, timeout=300)
    if check:
        assert proc.returncode == 0, proc.stderr[-3000:]
    return proc


def checkpoint(run_dir: Path) -> dict:
    return torch.load(run_dir / "checkpoint.pt", weights_only=True)


def assert_same_search(one: Path, two: Path) -> None:
    a, b = checkpoint(one), checkpoint(two)
    for part in ("supernet", "arch"):
        assert a[part].keys() == b[part].keys()
        for name in a[part]:
            torch.testing.assert_close(b[part][name].float(), a[part][name].float(), atol=1e-5, rtol=1e-4,
                                       msg=f"{part}.{name} differs")
    assert json.loads((one / "genotype.json").read_text())["string"] == \
        json.loads((two / "genotype.json").read_text())["string"]


@pytest.fixture(scope="module")
def gdas_two_ranks(tmp_path_factory) -> Path:
    """One uninterrupted 2-rank gdas search, the reference for the equality and resume tests."""
    root = tmp_path_factory.mktemp("gdas2")
    proc = torchrun("-m", "nasplug", "search", *TINY, *GDAS, "--run-dir", str(root / "run"), cwd=root)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return root / "run"


def test_two_rank_gdas_equals_one_process_at_the_same_global_batch(gdas_two_ranks, tmp_path):
    nasplug("search", *TINY, *GDAS, "--run-dir", str(tmp_path / "one"), cwd=tmp_path)
    assert json.loads((gdas_two_ranks / "distributed.json").read_text())["world_size"] == 2
    assert not (tmp_path / "one" / "distributed.json").exists()
    assert_same_search(tmp_path / "one", gdas_two_ranks)
    one = [json.loads(line) for line in (tmp_path / "one" / "metrics.jsonl").read_text().splitlines()]
    two = [json.loads(line) for line in (gdas_two_ranks / "metrics.jsonl").read_text().splitlines()]
    # the logged losses are the global batch's (the mean over the ranks' shards)
    assert [r["train_loss"] for r in two] == pytest.approx([r["train_loss"] for r in one], rel=1e-5)


def test_two_rank_random_search_equals_one_process(tmp_path):
    proc = torchrun("-m", "nasplug", "search", *TINY, *RANDOM, "--run-dir", str(tmp_path / "two"), cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr[-3000:]
    nasplug("search", *TINY, *RANDOM, "--run-dir", str(tmp_path / "one"), cwd=tmp_path)
    assert_same_search(tmp_path / "one", tmp_path / "two")


WORKER = """
import json, sys
import torch
from nasplug.search.run import SearchRun, merged_config
from nasplug_tunas.categorical import policy_choice

cfg = merged_config(dict(space="nb201", strategy="tunas", data="digits", space_options={"C": 4, "N": 1},
                         epochs=2, steps_per_epoch=4, batch_size=16, valid_batch_size=16, threads=1, seed=3,
                         latency_target=1.0, latency_model="flops"))  # the tunas reward needs a target
run = SearchRun(cfg, write_files=False)
opt = run.optimizer
run._shuffle(0)
train, valid = run.batches(run.train_loader), run._cycle(run.valid_loader)
steps = []
for step in range(4):
    run.state.step_in_epoch = step
    tb, vb = next(train), next(valid)
    logits = {n: run.arch[n].detach().clone().tolist() for n in run.arch.names()}
    opt.weight_step(run, *tb)
    choices = {n: policy_choice(s) for n, s in opt._pending[1].items()}
    metrics = opt.arch_step(run, tb, vb)
    steps.append({"choices": choices, "reward": metrics["reward"], "baseline": metrics["baseline"],
                  "logits": logits, "grads": {n: run.arch[n].grad.tolist() for n in run.arch.names()},
                  "after": {n: run.arch[n].detach().tolist() for n in run.arch.names()}})
json.dump(steps, open(f"{sys.argv[1]}/rank{run.dist.rank}.json", "w"))
from nasplug import distributed
distributed.finish()  # a plain return can abort in gloo's teardown (see nasplug.distributed.exit_process)
"""


def test_tunas_ranks_sample_their_own_architectures_and_average_the_reinforce_terms(tmp_path):
    pytest.importorskip("nasplug_tunas")
    (tmp_path / "worker.py").write_text(textwrap.dedent(WORKER))
    proc = torchrun(str(tmp_path / "worker.py"), str(tmp_path), cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr[-3000:]
    ranks = [json.loads((tmp_path / f"rank{r}.json").read_text()) for r in (0, 1)]
    assert any(a["choices"] != b["choices"] for a, b in zip(*ranks)), "the ranks drew the same architectures"
    rewards = [[step["reward"] for step in rank] for rank in ranks]
    assert rewards[0] != rewards[1]  # each rank scored its own architecture on its own shard
    for k, (a, b) in enumerate(zip(*ranks)):
        assert a["baseline"] == pytest.approx(b["baseline"])  # one baseline: the EMA of the mean reward
        assert a["after"] == b["after"]  # the same update everywhere
        for name in a["logits"]:
            assert a["logits"][name] == b["logits"][name]
            probs = torch.softmax(torch.tensor(a["logits"][name]), dim=-1)
            terms = []
            for step in (a, b):  # d/dlogits of -(r_k - b) log pi(a_k): -(r_k - b)(onehot(a_k) - pi)
                one_hot = torch.nn.functional.one_hot(torch.tensor(step["choices"][name]), len(probs)).float()
                terms.append(-(step["reward"] - step["baseline"]) * (one_hot - probs))
            expected = (terms[0] + terms[1]) / 2
            torch.testing.assert_close(torch.tensor(a["grads"][name]), expected, atol=1e-6, rtol=1e-5)
            torch.testing.assert_close(torch.tensor(b["grads"][name]), expected, atol=1e-6, rtol=1e-5)


def _wait_for(predicate, timeout: float, what: str) -> None:
    deadline = time.time() + timeout
    while not predicate():
        if time.time() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.1)


def _metric_lines(run_dir: Path) -> int:
    path = run_dir / "metrics.jsonl"
    return len(path.read_text().splitlines()) if path.exists() else 0


def test_distributed_run_killed_with_sigkill_resumes_to_the_same_genotype(gdas_two_ranks, tmp_path):
    run_dir = tmp_path / "killed"
    proc = subprocess.Popen([sys.executable, "-m", "nasplug", "search", "--nproc", "2", *TINY, *GDAS,
                             "--run-dir", str(run_dir)], cwd=tmp_path, env=env(), start_new_session=True,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        _wait_for(lambda: _metric_lines(run_dir) >= 1, 240, "the first epoch's checkpoint")
    finally:
        os.killpg(proc.pid, signal.SIGKILL)  # the launcher and both ranks at once
        proc.wait()
    assert not (run_dir / "genotype.json").exists(), "the run finished before it was killed"
    refused = nasplug("resume", str(run_dir), "--quiet", cwd=tmp_path, check=False)
    assert refused.returncode == 2
    assert "ran with 2 process(es) and cannot resume with 1" in refused.stderr and "--nproc 2" in refused.stderr
    nasplug("resume", str(run_dir), "--nproc", "2", "--quiet", cwd=tmp_path)
    assert_same_search(gdas_two_ranks, run_dir)


def _children(pid: int) -> list[int]:
    out = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                stat = Path(f"/proc/{entry}/stat").read_text()
            except OSError:
                continue
            if int(stat.rsplit(")", 1)[1].split()[1]) == pid:
                out.append(int(entry))
    return out


def _rank_of(pid: int) -> int | None:
    try:
        environ = Path(f"/proc/{pid}/environ").read_bytes().split(b"\0")
    except OSError:
        return None
    for item in environ:
        if item.startswith(b"RANK="):
            return int(item[5:])
    return None


@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="finds the ranks' processes through /proc")
def test_a_rank_killed_mid_run_ends_the_job_with_an_error_naming_it(tmp_path):
    run_dir = tmp_path / "run"
    proc = subprocess.Popen([sys.executable, "-m", "nasplug", "search", "--nproc", "2", *TINY,
                             "--strategy", "gdas", "--epochs", "500", "--run-dir", str(run_dir)],
                            cwd=tmp_path, env=env(), start_new_session=True, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    try:
        _wait_for(lambda: _metric_lines(run_dir) >= 1, 240, "the search to run")
        ranks = {}
        _wait_for(lambda: ranks.update({_rank_of(p): p for p in _children(proc.pid)}) or 1 in ranks, 30,
                  "the worker processes")
        os.kill(ranks[1], signal.SIGKILL)
        killed_at = time.time()
        _, stderr = proc.communicate(timeout=120)
        elapsed = time.time() - killed_at
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
    assert proc.returncode != 0
    assert elapsed < 60  # the launcher noticed; no rank hangs in a collective
    assert "rank 1 (exit code -9)" in stderr, stderr[-2000:]


@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="finds the ranks' processes through /proc")
def test_sigterm_to_one_rank_stops_every_rank_at_the_same_step(tmp_path):
    """A signal that reaches rank 1 only: the ranks agree on the stop flag, nobody waits in a collective."""
    run_dir = tmp_path / "stopped"
    proc = subprocess.Popen([sys.executable, "-m", "nasplug", "search", "--nproc", "2", *TINY, *GDAS,
                             "--steps-per-epoch", "400", "--run-dir", str(run_dir)],
                            cwd=tmp_path, env=env(), start_new_session=True, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)

    def term_rank_1() -> None:
        ranks = {}
        _wait_for(lambda: ranks.update({_rank_of(p): p for p in _children(proc.pid)}) or 1 in ranks, 60,
                  "the worker processes")
        _wait_for(lambda: (run_dir / "config.json").exists(), 120, "the search to start")
        time.sleep(2)
        os.kill(ranks[1], signal.SIGTERM)

    stderr = stderr_after(proc, term_rank_1)
    assert proc.returncode == 143, stderr[-2000:]
    messages = [line for line in stderr.splitlines() if line.startswith("nasplug:")]
    assert len(messages) == 1 and "on SIGTERM" in messages[0] and f"nasplug resume {run_dir}" in messages[0], stderr
    assert (run_dir / "config.json").exists()


def test_divergence_of_a_distributed_search_is_one_error_line(tmp_path):
    proc = nasplug("search", "--nproc", "2", *TINY, "--strategy", "gdas", "--epochs", "1", "--w-lr", "1e6",
                   "--run-dir", str(tmp_path / "run"), cwd=tmp_path, check=False)
    assert proc.returncode == 2
    messages = [line for line in proc.stderr.splitlines() if line.startswith("nasplug:")]
    assert len(messages) == 1 and "diverged" in messages[0], proc.stderr


def test_a_strategy_that_refuses_distributed_says_so_once(tmp_path):
    proc = nasplug("search", "--nproc", "2", *TINY, "--strategy", "gibbs", "--epochs", "1",
                   "--run-dir", str(tmp_path / "run"), cwd=tmp_path, check=False)
    assert proc.returncode == 2
    messages = [line for line in proc.stderr.splitlines() if line.startswith("nasplug:")]
    assert len(messages) == 1 and "cannot run distributed" in messages[0], proc.stderr


def test_a_run_directory_another_process_holds_is_refused_in_one_line(tmp_path):
    from nasplug.runlock import RunLock

    run_dir = tmp_path / "run"
    run_dir.mkdir()
    with RunLock(run_dir):  # as a search running in another process holds it
        proc = nasplug("search", "--nproc", "2", *TINY, "--strategy", "gdas", "--epochs", "1",
                       "--run-dir", str(run_dir), cwd=tmp_path, check=False)
    assert proc.returncode == 2
    messages = [line for line in proc.stderr.splitlines() if line.startswith("nasplug:")]
    assert len(messages) == 1 and str(run_dir) in messages[0], proc.stderr
    assert "collective" not in proc.stderr, proc.stderr


def test_only_rank_0_writes_tensorboard_events(tmp_path):
    pytest.importorskip("tensorboard")
    nasplug("search", "--nproc", "2", *TINY, "--strategy", "gdas", "--epochs", "1",
            "--run-dir", str(tmp_path / "run"), "--tensorboard", str(tmp_path / "tb"), cwd=tmp_path)
    assert len(list((tmp_path / "tb").rglob("events.out.tfevents.*"))) == 1  # in tb/<run directory name>


#: the strategies of the repo's plugins that refuse a distributed search, and why (see their READMEs)
REFUSED = {"darts-2nd": "unrolled", "amended": "unrolled", "gibbs": "omega and alpha moves",
           "gibbs-1st": "omega and alpha moves", "gibbs-mean": "omega and alpha moves",
           "gibbs-1st-mean": "omega and alpha moves", "gibbs-alpha-mean": "omega and alpha moves",
           # the training-free searches train nothing: seeds go to separate trials instead
           "zerocost": "trains nothing", "naswot": "trains nothing", "tenas": "trains nothing"}


def test_every_strategy_runs_distributed_or_refuses_with_its_reason():
    from nasplug import distributed
    from nasplug.errors import ConfigError
    from nasplug.registry import default_registry
    from nasplug.search.run import strategy_spec

    registry = default_registry()
    names = registry.names("strategy")
    assert {"random", "gdas", "tunas", "darts"} <= set(names)
    for name in names:
        spec = strategy_spec(name, registry)
        optimizer = registry.get("arch_optimizer", spec.arch_optimizer, **spec.optimizer_options)
        if name in REFUSED:
            with pytest.raises(ConfigError, match=f"'{spec.arch_optimizer}' cannot run distributed: .*"
                                                  f"{REFUSED[name]}"):
                distributed.check_strategy(optimizer, spec.arch_optimizer, spec.rank_sampling)
        else:
            distributed.check_strategy(optimizer, spec.arch_optimizer, spec.rank_sampling)
    assert strategy_spec("tunas", registry).rank_sampling == "per-rank"
    assert strategy_spec("gdas", registry).rank_sampling == "shared"
