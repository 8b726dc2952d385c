"""The programmatic entry point: ``Pipeline(space=..., strategy=..., data=...).search()``."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Iterable, Mapping

from nasplug import distributed
from nasplug import registry as registry_module
from nasplug.config import SearchConfig, TrainConfig
from nasplug.errors import ConfigError
from nasplug.spaces.base import SearchSpace
from nasplug.search.run import Callback, SearchResult, SearchRun, genotype_record, merged_config
from nasplug.train import TrainResult, train


def space_by_name(config: Mapping[str, Any]) -> dict[str, Any]:
    """``space=`` may be a built space (``nasplug.nn.model_space(Net)``): a run records spaces by name and
    options, so that a resumed run and ``nasplug train`` rebuild it; one that cannot be is refused here."""
    config = dict(config)
    space = config.get("space")
    if isinstance(space, SearchSpace):
        if not getattr(space, "rebuildable", True):
            raise ConfigError(f"space {space.name!r} cannot be rebuilt by name ({space.options()}); build it from a "
                              "model class or a module-level factory, not a built model, a lambda or a local class")
        if config.get("space_options"):
            raise ConfigError("space_options are for a space given by name; this space is already built")
        config["space"], config["space_options"] = space.name, space.options()
    return config


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
        config = space_by_name(config)
        self.config: SearchConfig = merged_config(config, self.registry)
        self.run_dir = run_dir
        self.callbacks = list(callbacks)
        self.verbose = verbose
        self.overwrite = overwrite
        self.tensorboard = tensorboard  # a log directory: search events there, retraining's in its train/
        self.result: SearchResult | None = None

    def _tensorboard(self, sub: str = ""):
        if self.tensorboard is None or distributed.launched_rank() != 0:  # only rank 0 writes, as for the run dir
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
