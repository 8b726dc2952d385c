"""Watching a run: library code logs (never prints), the CLI's console handler shows it, long phases report progress."""

import io
import logging

import pytest

from nasplug import SearchConfig, SearchRun, TrainConfig, progress as progress_module
from nasplug.cli import main
from nasplug.train import train

TINY = dict(space="nb201", space_options={"C": 4, "N": 1}, strategy="random", data="digits", epochs=1,
            steps_per_epoch=2, optimizer_options={"num_candidates": 2})
SMALL = ["--space", "nb201", "--space-option", "C=4", "--space-option", "N=1", "--steps-per-epoch", "2",
         "--optimizer-option", "num_candidates=2", "--strategy", "random", "--data", "digits", "--epochs", "1"]


def _search(**kw):
    return SearchRun(SearchConfig(**TINY), write_files=False, **kw).run()


def test_epoch_line_is_logged_at_info_under_a_nasplug_logger(caplog):
    caplog.set_level(logging.INFO, logger="nasplug")
    _search()
    lines = [r for r in caplog.records if r.getMessage().startswith("epoch 1/1")]
    assert lines and lines[0].levelno == logging.INFO and lines[0].name == "nasplug.search.run"


def test_library_prints_nothing_when_logging_is_not_configured(capfd):
    _search(verbose=True)
    train({"space": "nb201", "space_options": {"C": 4, "N": 1}, "genotype": "|skip_connect~0|+|none~0|none~1|+"
           "|none~0|none~1|skip_connect~2|"}, TrainConfig(epochs=1, batch_size=256), write_files=False, verbose=True)
    captured = capfd.readouterr()
    assert captured.out == "" and captured.err == ""


def test_the_library_adds_only_a_null_handler():
    handlers = logging.getLogger("nasplug").handlers
    assert [type(h) for h in handlers] == [logging.NullHandler]


@pytest.mark.parametrize("flags, shown", [([], True), (["--quiet"], False), (["--log-level", "warning"], False),
                                          (["--verbose"], True)])
def test_cli_console_handler_follows_quiet_verbose_and_log_level(flags, shown, tmp_path, capsys):
    assert main(["search", *SMALL, "--run-dir", str(tmp_path / "run"), *flags]) == 0
    captured = capsys.readouterr()
    assert ("epoch 1/1 | train loss" in captured.err) is shown
    assert "epoch 1/1" not in captured.out  # the report on stdout stays clean for pipes
    assert not [h for h in logging.getLogger().handlers if isinstance(h, logging.StreamHandler)
                and getattr(h, "stream", None) is captured], "the console handler outlives the command"


def test_bad_log_level_is_refused_by_the_parser(capsys):
    with pytest.raises(SystemExit) as exc:
        main(["search", "--log-level", "chatty"])
    assert exc.value.code == 2 and "invalid choice: 'CHATTY'" in capsys.readouterr().err


class _Clock:
    def __init__(self):
        self.now = 0.0

    def __call__(self):
        return self.now


def test_periodic_lines_carry_rate_and_eta_at_each_tenth(caplog):
    caplog.set_level(logging.INFO, logger="nasplug")
    clock = _Clock()
    bar = progress_module.Progress(20, "phase", mode="lines", min_seconds=1.0, every_seconds=1000, clock=clock)
    for _ in range(19):
        clock.now += 1.0
        bar.update(1)
    lines = [r.getMessage() for r in caplog.records]
    assert len(lines) == 9  # 10%, 20%, ... 90%; the last step is the phase's own summary
    assert lines[0] == "phase 2/20 (10%) 1.00 step/s, 0:18 left"
    assert lines[-1].startswith("phase 18/20 (90%)") and "0:02 left" in lines[-1]


def test_periodic_lines_every_n_seconds_in_a_slow_phase(caplog):
    caplog.set_level(logging.INFO, logger="nasplug")
    clock = _Clock()
    bar = progress_module.Progress(1000, "slow", unit="unit", mode="lines", every_seconds=30, clock=clock)
    for _ in range(50):  # 5% of the phase, 10 s a unit
        clock.now += 10.0
        bar.update(1)
    lines = [r.getMessage() for r in caplog.records]
    assert len(lines) == 16 and "10.00 s/unit" in lines[0]


class _Terminal(io.StringIO):
    def isatty(self):
        return True


def test_form_follows_the_stream_and_the_level():
    log = logging.getLogger("nasplug.test_progress")
    log.setLevel(logging.INFO)
    try:
        assert progress_module.choose_mode(log, io.StringIO()) == "lines"
        assert progress_module.choose_mode(log, _Terminal()) in ("tqdm", "plain")
        assert progress_module.choose_mode(log, _Terminal(), enabled=False) == "off"
        log.setLevel(logging.WARNING)
        assert progress_module.choose_mode(log, _Terminal()) == "off"
    finally:
        log.setLevel(logging.NOTSET)


def test_plain_bar_on_a_terminal_without_tqdm(monkeypatch):
    monkeypatch.setattr(progress_module, "tqdm_available", lambda: False)
    log = logging.getLogger("nasplug.test_progress")
    log.setLevel(logging.INFO)
    stream = _Terminal()
    try:
        with progress_module.progress(4, "epoch 1/1", log=log, stream=stream) as bar:
            bar.update(2, loss=1.5)
    finally:
        log.setLevel(logging.NOTSET)
    assert "\repoch 1/1 2/4 (50%) [##########..........]" in stream.getvalue() and "loss 1.5" in stream.getvalue()


def test_tqdm_bar_on_a_terminal():
    pytest.importorskip("tqdm")
    log = logging.getLogger("nasplug.test_progress")
    log.setLevel(logging.INFO)
    stream = _Terminal()
    try:
        with progress_module.progress(4, "epoch 1/1", log=log, stream=stream) as bar:
            assert bar.mode == "tqdm"
            bar.update(4)
    finally:
        log.setLevel(logging.NOTSET)
    assert "epoch 1/1" in stream.getvalue() and "step/s" in stream.getvalue()


def test_time_left_leaves_out_a_compile_warm_up_step():
    """After --compile the first step takes minutes; the estimate must come from the steps after it."""
    from nasplug.progress import Progress

    now = [0.0]
    bar = Progress(10, "train", mode="off", clock=lambda: now[0], warmup=1)
    assert "warming up" in bar.line()
    now[0] = 300.0  # the compiled first step
    bar.update(1)
    assert "warming up" in bar.line()
    for _ in range(2):
        now[0] += 1.0
        bar.update(1)
    assert "0:07 left" in bar.line()  # 7 steps of 1 s, not 7 x 302/3 s
    plain = Progress(10, "train", mode="off", clock=lambda: now[0])  # without a warm-up: the plain average
    now[0] += 4.0
    plain.update(2)
    assert "0:16 left" in plain.line()
