"""Every epoch record carries the search's cumulative process CPU seconds, carried over a kill and resume."""

import json
import time

import pytest

from nasplug.search.run import SearchRun, merged_config

TINY = dict(space="nb201", strategy="random", data="digits", space_options={"C": 4, "N": 1}, batch_size=32,
            steps_per_epoch=2, threads=1, epochs=3, seed=0,
            optimizer_options={"num_candidates": 4, "screen_batches": 1, "top_k": 2})
BURN = 0.4  # CPU seconds burnt in the first epoch, so a count restarted at the resume would be visibly short


class Killed(Exception):
    pass


def burn_then_kill(run, event):
    if event != "step":
        return
    if run.state.epoch == 0 and run.state.step_in_epoch == 0:
        start = time.process_time()
        while time.process_time() - start < BURN:
            pass
    if run.state.epoch == 2 and run.state.step_in_epoch == 1:
        raise Killed


def test_cpu_seconds_are_cumulative_and_survive_a_resume(tmp_path):
    with pytest.raises(Killed):
        SearchRun(merged_config(TINY), run_dir=tmp_path / "run", callbacks=[burn_then_kill]).run()
    saved = [json.loads(line) for line in (tmp_path / "run" / "metrics.jsonl").read_text().splitlines()]
    assert [r["epoch"] for r in saved] == [0, 1] and saved[0]["cpu_seconds"] >= BURN
    result = SearchRun.resume(tmp_path / "run").run()
    cpu = [r["cpu_seconds"] for r in result.history]
    assert cpu[:2] == [r["cpu_seconds"] for r in saved]  # the killed part's records are kept as they were
    assert cpu[0] < cpu[1] < cpu[2]  # a count restarted at the resume would put cpu[2] below cpu[1] (>= BURN)
    assert cpu[2] - cpu[1] < BURN  # the resumed epoch adds only its own seconds
