"""benchmarks/nb201_search.py's trials on a tiny digits config: skip finished, resume killed, rank supernets."""

from __future__ import annotations

import importlib.util
import json
import math
from pathlib import Path

import pytest

from tests.conftest import SHARED_DATA

pytest.importorskip("nasplug_nb201")
pytest.importorskip("nasplug_gdas")
TABLE = SHARED_DATA / "nb201"
if not (TABLE / "accuracy.csv").exists():
    pytest.skip(f"NAS-Bench-201 table not found at {TABLE}", allow_module_level=True)

BENCH = Path(__file__).resolve().parents[1] / "benchmarks" / "nb201_search.py"


def load_bench():
    spec = importlib.util.spec_from_file_location("nb201_search", BENCH)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


bench = load_bench()


def tiny_args(out: Path, strategies: str = "gdas"):
    return bench.parse_args(["--data", "digits", "--size", "0", "--C", "2", "--N", "1", "--epochs", "2",
                             "--steps-per-epoch", "2", "--batch-size", "16", "--seeds", "0", "--eval-batches", "1",
                             "--strategies", strategies, "--ranking-cells", "6", "--ranking-batches", "1",
                             "--workers", "1", "--out", str(out), "--table", str(TABLE)])


def test_a_killed_trial_resumes_to_the_uninterrupted_answer_and_a_finished_one_is_skipped(tmp_path):
    from nasplug.search.run import SearchRun, merged_config

    args = tiny_args(tmp_path / "a")
    [job] = bench.jobs_for(args, ["gdas"], [2], [0])
    run_dir = Path(job["run_dir"])
    assert bench.trial_status(run_dir) == "new"
    killed = SearchRun(merged_config(job["config"]), run_dir=run_dir)
    killed.run_epoch()
    killed.save()  # a session ended here, after the first epoch's checkpoint
    assert bench.trial_status(run_dir) == "partial"

    assert bench.run_trial(job)["status"] == "resumed"
    assert bench.trial_status(run_dir) == "done"
    ranking = json.loads((run_dir / "ranking.json").read_text())
    assert ranking["cells"] == 6 and -1.0 <= ranking["kendall_tau"] <= 1.0
    assert bench.run_trial(job)["status"] == "skipped"

    [fresh] = bench.jobs_for(tiny_args(tmp_path / "b"), ["gdas"], [2], [0])
    assert bench.run_trial(fresh)["status"] == "ran"
    resumed, whole = bench.read_trial(run_dir), bench.read_trial(Path(fresh["run_dir"]))
    assert resumed["genotype"] == whole["genotype"] and resumed["curve"] == whole["curve"]
    assert len(whole["curve"]) == 2 and all(10.0 <= v <= 100.0 for v in whole["curve"])


def test_summary_counts_only_finished_trials_and_a_broken_trial_reports_its_error(tmp_path):
    args = tiny_args(tmp_path, "gdas,random")
    jobs = bench.jobs_for(args, ["random", "gdas"], [2], [0])
    assert [j["config"]["strategy"] for j in jobs] == ["gdas", "random"]  # costliest first within a seed
    broken = dict(jobs[1], config=dict(jobs[1]["config"], strategy="no-such-strategy"))
    outcome = bench.run_trial(broken)
    assert "no-such-strategy" in outcome["error"] and (Path(broken["run_dir"]) / "error.txt").exists()
    bench.run_trial(jobs[0])
    summary = bench.summarize(args, ["gdas", "random"], 2, [0])
    assert summary["gdas"]["seeds"] == 1 and not math.isnan(summary["gdas"]["mean"])
    assert summary["random"]["seeds"] == 0 and summary["random"]["unfinished"] == [0]


def test_a_partial_trial_of_another_preset_is_refused_by_name(tmp_path):
    from nasplug.search.run import SearchRun, merged_config

    [job] = bench.jobs_for(tiny_args(tmp_path), ["gdas"], [2], [0])
    started = SearchRun(merged_config(job["config"]), run_dir=Path(job["run_dir"]))
    started.run_epoch()
    started.save()
    del started  # its lock goes with it
    renamed = dict(job, config=dict(job["config"], strategy="random"))  # the row's preset changed since
    outcome = bench.run_trial(renamed)
    assert "'nasplug-gdas:gdas'" in outcome["error"] and "'random'" in outcome["error"]
    assert bench.trial_status(Path(job["run_dir"])) == "partial"  # nothing was resumed or overwritten
    assert bench.run_trial(job)["status"] == "resumed"


def test_warmup_rows_run_their_preset_with_op_warmup_in_their_own_directory(tmp_path):
    args = tiny_args(tmp_path, "random,random-warmup")
    plain, warm = bench.jobs_for(args, ["random", "random-warmup"], [2], [0])[::-1]
    assert warm["config"]["strategy"] == plain["config"]["strategy"] == "random"
    assert warm["config"]["sampler_options"] == {"op_warmup": True} and "sampler_options" not in plain["config"]
    assert Path(warm["run_dir"]).parent.name == "random-warmup"
    assert bench.run_trial(warm)["status"] == "ran"
    recorded = json.loads((Path(warm["run_dir"]) / "config.json").read_text())
    assert recorded["components"]["sampler"]["options"] == {"op_warmup": True}
    assert "op_warmup_p" in json.loads((Path(warm["run_dir"]) / "result.json").read_text())["history"][0]
    assert (Path(warm["run_dir"]) / "ranking.json").exists()  # its supernet is ranked like RSPS's


WORKER_SCRIPT = """
import importlib.util, multiprocessing, os, sys, threading, time
from pathlib import Path

def child(done):
    spec = importlib.util.spec_from_file_location("nb201_search", {bench!r})
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    bench._die_with_parent()
    time.sleep({live})
    Path(done).write_text("alive")

if __name__ == "__main__":
    ctx = multiprocessing.get_context("spawn")
    # the pool forks replacement workers from a helper thread that ends at close(): start this one the same way
    def start_then_end():
        ctx.Process(target=child, args=(sys.argv[1],)).start()
        time.sleep(1.5)  # the worker has set itself up by now; then this thread ends, as the pool's does
    starter = threading.Thread(target=start_then_end)
    starter.start()
    starter.join()
    time.sleep({parent_lives})
    os._exit(0)  # gone at once, as a killed benchmark is (no joining of its children)
"""


def _worker_outcome(tmp_path, live: float, parent_lives: float, wait: float) -> bool:
    """Whether a worker started like the pool's replacement workers wrote its file after ``live`` seconds."""
    import subprocess
    import sys
    import time

    script = tmp_path / "parent.py"
    script.write_text(WORKER_SCRIPT.format(bench=str(BENCH), live=live, parent_lives=parent_lives))
    done = tmp_path / "done"
    subprocess.run([sys.executable, str(script), str(done)], timeout=120, check=True)
    deadline = time.time() + wait
    while time.time() < deadline and not done.exists():
        time.sleep(0.2)
    return done.exists()


def test_a_worker_outlives_the_thread_that_started_it(tmp_path):
    """PR_SET_PDEATHSIG fires when the forking *thread* ends (at 1.5 s here), not the process: the pool's replacement
    workers are forked by a helper thread that ends at close()."""
    assert _worker_outcome(tmp_path, live=3.0, parent_lives=8.0, wait=5.0)


def test_a_worker_ends_soon_after_its_parent_dies(tmp_path):
    """The parent is gone after 1.5 + 1 s; a worker that lived on would write its file at 6 s."""
    assert not _worker_outcome(tmp_path, live=6.0, parent_lives=1.0, wait=9.0)


def test_seeds_come_from_a_list_a_range_or_a_base_and_count(tmp_path):
    assert bench.parse_seeds("0-2,7,1") == [0, 1, 2, 7]
    assert bench.seeds_for(bench.parse_args(["--seeds", "100-104", "--table", str(TABLE)]), "random") == \
        [100, 101, 102, 103, 104]
    args = bench.parse_args(["--seed-base", "100", "--table", str(TABLE)])
    assert bench.seeds_for(args, "random-fair") == list(range(100, 110))  # 10 per recommended row
    assert bench.seeds_for(args, "darts-2nd") == [100, 101, 102]  # the expensive DARTS family keeps 3
    assert len(bench.seeds_for(args, "gibbs-mean")) == 10  # the recommended row does not
    assert bench.seeds_for(bench.parse_args(["--num-seeds", "4", "--table", str(TABLE)]), "darts") == [0, 1, 2, 3]
    for bad in ("a", "3-1", "1,,2"):
        with pytest.raises(SystemExit, match="--seeds"):
            bench.parse_seeds(bad)


def test_anytime_curve_and_cpu_seconds_to_a_level_by_hand():
    history = [{"epoch": 0, "cpu_seconds": 10.0, "benchmark": {"test_accuracy": 85.0}},
               {"epoch": 1, "cpu_seconds": 20.0, "benchmark": {"test_accuracy": 91.5}},
               {"epoch": 2, "cpu_seconds": 30.0, "benchmark": {"test_accuracy": 90.2}}]
    curve = bench.anytime_points(history, 92.4, cpu_seconds=33.0)
    assert curve == [[10.0, 85.0], [20.0, 91.5], [30.0, 90.2], [33.0, 92.4]]
    assert [bench.cpu_seconds_to(curve, v) for v in (90, 91, 92, 93)] == [20.0, 20.0, 33.0, None]
    assert bench.anytime_points([{"epoch": 0, "cpu_seconds": 5.0}], 88.0, 9.0) == [[9.0, 88.0]]  # RSPS: the pick
    other = [[12.0, 89.0], [22.0, 88.0], [32.0, 93.0], [35.0, 93.0]]
    both = bench.aggregate_anytime([curve, other])
    assert both["mean"][0] == [11.0, 87.0] and both["worst"][3] == [34.0, 92.4]


def test_tau_interval_over_cells_is_a_point_for_a_perfect_ranking_and_wide_for_noise():
    import numpy as np

    truth = list(np.linspace(80, 94, 50))
    perfect = bench.tau_over_cells_ci([{"shared_accuracy": truth, "table_accuracy": truth}], resamples=200)
    assert perfect == pytest.approx([1.0, 1.0])
    from nasplug_nb201.ranking import kendall_tau

    noise = list(np.random.default_rng(0).permutation(truth))
    low, high = bench.tau_over_cells_ci([{"shared_accuracy": noise, "table_accuracy": truth}], resamples=400)
    # 50 cells: the standard error of tau near 0 is about sqrt(2(2n+5)/(9n(n-1))) = 0.097, so about +/- 0.19
    assert low < kendall_tau(noise, truth) < high and 0.25 < high - low < 0.55


def test_budget_plot_error_bars_never_reach_above_100_percent():
    lower, upper = bench.accuracy_error_bars([93.5, 99.0, 50.0], [2.0, 3.0, 4.0])
    assert lower == [2.0, 3.0, 4.0]
    assert upper == [2.0, 1.0, 4.0]  # 99 + 3 would draw a bar to 102%
    assert all(m + u <= 100.0 for m, u in zip([93.5, 99.0, 50.0], upper))
