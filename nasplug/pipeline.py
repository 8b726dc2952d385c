"""The programmatic entry point: ``Pipeline(space=..., strategy=..., data=...).search()``."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Iterable, Mapping

from nasplug import registry as registry_module
from nasplug.config import SearchConfig, TrainConfig
from nasplug.search.run import Callback, SearchResult, SearchRun, genotype_record, merged_config
from nasplug.train import TrainResult, train


class Pipeline:
    """A search and, optionally, the retraining of what it found.

    Keyword arguments are :class:`~nasplug.config.SearchConfig` fields; the
    strategy preset fills in the paper's settings for any field left out::

        result = Pipeline(space="nb201", strategy="gdas", data="digits", epochs=10).search()
        report = Pipeline(data="digits").train(result.genotype_record(), epochs=30)
    """

    def __init__(self, registry=None, run_dir: str | Path | None = None, callbacks: Iterable[Callback] = (),
                 verbose: bool = False, overwrite: bool = False, tensorboard: str | Path | None = None,
                 **config: Any):
        self.registry = registry or registry_module.default_registry()
        self.config: SearchConfig = merged_config(config, self.registry)
        self.run_dir = run_dir
        self.callbacks = list(callbacks)
        self.verbose = verbose
        self.overwrite = overwrite
        self.tensorboard = tensorboard  # a log directory: search events there, retraining's in its train/
        self.result: SearchResult | None = None

    def _tensorboard(self, sub: str = ""):
        if self.tensorboard is None:
            return None
        from nasplug.tensorboard import TensorBoardLogger

        return TensorBoardLogger(Path(self.tensorboard) / sub if sub else self.tensorboard)

    def search(self) -> SearchResult:
        board = self._tensorboard()
        callbacks = self.callbacks + ([board] if board is not None else [])
        result = None
        try:
            run = SearchRun(self.config, self.registry, self.run_dir, callbacks, self.verbose,
                            overwrite=self.overwrite)
            self.result = result = run.run()
        finally:
            if board is not None:
                board.finish(result)  # the final genotype only when this search finished
        return self.result

    def train(self, genotype: Any = None, **train_config: Any) -> TrainResult:
        """Retrain ``genotype`` (default: the last search's) on this pipeline's data from scratch."""
        if genotype is None:
            if self.result is None:
                raise ValueError("train() needs a genotype, or a search() first")
            genotype = self.result.genotype_record()
        elif not isinstance(genotype, (Mapping, str, Path)):
            space = self.registry.get("space", self.config.space, **self.config.space_options)
            genotype = genotype_record(space, genotype)
        fields = {"data": self.config.data, "data_options": self.config.data_options,
                  "device": self.config.device, "threads": self.config.threads, "seed": self.config.seed, "runs_root": self.config.runs_root}
        fields.update(train_config)
        board = self._tensorboard("train")
        try:
            return train(genotype, TrainConfig.from_dict(fields), self.registry, verbose=self.verbose,
                         callbacks=[board] if board is not None else ())
        finally:
            if board is not None:
                board.close()
