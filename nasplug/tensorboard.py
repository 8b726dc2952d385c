"""A TensorBoard logger for searches and retraining runs (``pip install "nasplug[tensorboard]"``).

:class:`TensorBoardLogger` is a run callback: attach it to a search with
``Pipeline(..., tensorboard="tb/")``, ``SearchRun(..., callbacks=[TensorBoardLogger("tb/")])``
or ``nasplug search ... --tensorboard tb/`` (and ``nasplug train ... --tensorboard tb/``).
Each run writes into its own sub-folder named after its run directory
(``tb/<run>``), so runs sharing one ``--tensorboard`` folder stay apart.
At each epoch end it writes, with the epoch (1-based) as the step:

* ``search/*`` or ``train/*`` scalars: every number of the epoch's
  ``metrics.jsonl`` line (losses, accuracies, ``lr``, ``derived_valid_acc``,
  ``derived_latency``, sampler temperatures...), and ``benchmark/*`` for a
  benchmark's scores of the derived genotype;
* ``probabilities/<decision>/<op>`` scalars and a ``probabilities/<decision>``
  histogram over choice indices, for every decision of a search;
* ``genotype`` text (the derived genotype) and a ``cells`` image of it
  (when matplotlib is installed).

:meth:`TensorBoardLogger.finish` adds the final genotype and its picture.

The event files are a view of the run, not part of it: when they cannot be
written (a read-only or full disk, a file or ``/proc`` path, at the start or
mid-run) the logger says so in one warning line and turns itself off, and
the search or retraining goes on; its run directory is complete either way.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any, Mapping

from nasplug.errors import ConfigError

logger = logging.getLogger(__name__)
INSTALL_HINT = 'TensorBoard logging needs the tensorboard package: pip install "nasplug[tensorboard]"'
SKIPPED = {"epoch", "steps", "seconds"}


def summary_writer_class():
    """torch's SummaryWriter, or a one-line ConfigError saying what to install."""
    try:
        import tensorboard  # noqa: F401  (torch.utils.tensorboard needs it; its own ImportError is less clear)
        from torch.utils.tensorboard import SummaryWriter
    except ImportError as exc:
        raise ConfigError(INSTALL_HINT) from exc
    return SummaryWriter


def _numbers(record: Mapping[str, Any], prefix: str) -> dict[str, float]:
    out = {}
    for key, value in record.items():
        if key in SKIPPED or isinstance(value, bool):
            continue
        if isinstance(value, (int, float)):
            out[f"{prefix}/{key}"] = float(value)
        elif key == "benchmark" and isinstance(value, Mapping):
            out.update({f"benchmark/{k}": float(v) for k, v in value.items()
                        if isinstance(v, (int, float)) and not isinstance(v, bool)})
    return out


class TensorBoardLogger:
    """Writes a run's epochs to TensorBoard event files under ``log_dir``; call it as ``callback(run, event)``."""

    def __init__(self, log_dir: str | Path, images: bool = True, per_run: bool = True):
        """With ``per_run`` (the default) the events go to ``log_dir/<run directory name>``: two runs logging to
        one folder are two runs in TensorBoard, not one merged curve.  A run without a directory logs to
        ``log_dir`` itself."""
        self.root = self.log_dir = Path(log_dir)
        self._writer_class = summary_writer_class()  # a missing tensorboard is an error now, not at the first epoch
        self.writer = None  # opened at the first write, when the run (and so its sub-folder) is known
        self._off = False
        self.images, self.per_run = images, per_run

    def _guarded(self, write) -> None:
        """Open the writer if need be and run ``write``; an OSError turns logging off with one warning."""
        if self._off:
            return
        try:
            if self.writer is None:
                self.writer = self._writer_class(log_dir=str(self.log_dir))
            write()
        except OSError as exc:
            self._off = True
            writer, self.writer = self.writer, None
            logger.warning(f"TensorBoard logging is off: cannot write to {self.log_dir} "
                           f"({exc.strerror or exc}); the run goes on without it")
            if writer is not None:
                try:
                    writer.close()
                except Exception:  # noqa: BLE001 - the writer is broken already; the warning said why
                    pass

    def _place(self, run) -> None:
        run_dir = getattr(run, "run_dir", None)
        if self.writer is None and self.per_run and run_dir is not None:
            self.log_dir = self.root / Path(run_dir).name

    def __call__(self, run, event: str) -> None:
        if event == "epoch" and run.history:
            self._place(run)
            self._guarded(lambda: self.log_epoch(run, run.history[-1]))

    def log_epoch(self, run, record: Mapping[str, Any]) -> None:
        step = int(record["epoch"]) + 1
        is_search = "distribution" in record
        for tag, value in _numbers(record, "search" if is_search else "train").items():
            self.writer.add_scalar(tag, value, step)
        if is_search:
            self.log_distribution(run.space, record["distribution"], step)
        if record.get("genotype") and is_search:
            from nasplug.viz import current_genotype

            self.log_genotype(run.space, current_genotype(run.space, [record]), step)
        self.writer.flush()

    def log_distribution(self, space, distribution: Mapping[str, list[float]], step: int) -> None:
        import numpy as np

        for decision, probs in distribution.items():
            ops = space.decision(decision).choices
            for op, p in zip(ops, probs):
                self.writer.add_scalar(f"probabilities/{decision}/{op}", float(p), step)
            # a histogram over choice indices, bar heights the probabilities: one picture per decision over epochs
            edges = np.arange(len(probs) + 1, dtype=float) - 0.5
            counts = np.asarray(probs, dtype=float)
            self.writer.add_histogram_raw(f"probabilities/{decision}", min=0.0, max=float(len(probs) - 1),
                                          num=1.0, sum=float(np.dot(np.arange(len(probs)), counts)),
                                          sum_squares=float(np.dot(np.arange(len(probs)) ** 2, counts)),
                                          bucket_limits=edges[1:].tolist(), bucket_counts=counts.tolist(),
                                          global_step=step)

    def log_genotype(self, space, genotype, step: int, tag: str = "genotype") -> None:
        self.writer.add_text(tag, f"`{genotype}`", step)
        if not self.images:
            return
        try:
            from nasplug.viz import _pyplot, architecture_figure
        except ImportError:  # pragma: no cover - viz itself needs nothing optional
            return
        try:
            plt = _pyplot()
        except ImportError:
            return  # matplotlib not installed: scalars and text only
        fig = architecture_figure(space, genotype, str(genotype))
        self.writer.add_figure("cells" if tag == "genotype" else f"cells/{tag}", fig, step, close=True)
        plt.close(fig)

    def finish(self, result=None) -> None:
        """The final genotype (text and picture) of a finished search, then close the files."""
        if result is not None:
            self._place(result)
        if result is not None and getattr(result, "genotype", None) is not None and hasattr(result, "space"):
            self._guarded(lambda: self.log_genotype(result.space, result.genotype, len(result.history),
                                                    tag="final_genotype"))
        self.close()

    def close(self) -> None:
        if self.writer is not None:
            def flush_and_close():
                self.writer.flush()
                self.writer.close()
            self._guarded(flush_and_close)
        self.writer = None
