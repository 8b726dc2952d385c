"""Data-parallel search and retraining on torch.distributed.

A search launched by torch's elastic launcher (``torchrun --nproc-per-node N
-m nasplug search ...`` or ``nasplug search --nproc N ...``, which calls the
same launcher) runs one :class:`~nasplug.search.run.SearchRun` per process.
This module is everything those processes share, so that the search loop
needs only a few hooks:

* :func:`context` joins the process group the launcher described in the
  environment (``RANK``, ``WORLD_SIZE``, ``MASTER_ADDR``...), with backend
  ``gloo`` on CPU and ``nccl`` on CUDA unless ``NASPLUG_DIST_BACKEND`` says
  otherwise, and a collective timeout (``NASPLUG_DIST_TIMEOUT`` seconds) so a
  rank that dies makes the others fail instead of hang.
* :class:`ShardedBatchSampler` draws the *global* batch exactly as a single
  process would (same generator, same order) and keeps this rank's slice, so
  ``--batch-size`` stays the global batch and the shards are disjoint.
* :meth:`DistContext.average_gradients` all-reduces gradients (mean over
  ranks) between ``backward`` and the optimizer step; with equal shards the
  mean of the shard losses' gradients is the global batch's gradient, so the
  weights, the architecture parameters and the optimizers' states stay equal
  on every rank.
* only rank 0 writes files (:attr:`DistContext.writes_files`).

Without a launcher every call is a no-op of a one-process world, so the
single-process search runs exactly the code it always ran.
"""

from __future__ import annotations

import datetime
import logging
import os
import signal
import sys
from pathlib import Path
from typing import Any, Iterable, Iterator, Sequence

import torch
from torch import nn
from torch.utils.data import Sampler

from nasplug.errors import ConfigError, NasplugError

#: how the ranks of a data-parallel search draw architectures
RANK_SAMPLING = ("shared", "per-rank")
DEFAULT_TIMEOUT_S = 300.0
BACKENDS = ("auto", "gloo", "nccl", "mpi")


class DistributedError(NasplugError):
    """A collective failed: another rank died or timed out."""


def launched() -> bool:
    """True inside a process started by torch's launcher with more than one process."""
    return int(os.environ.get("WORLD_SIZE", "1")) > 1


def launched_rank() -> int:
    """This process's rank as the launcher set it (0 outside a launched job), without joining the group."""
    return int(os.environ.get("RANK", "0")) if launched() else 0


def choose_backend(device: str) -> str:
    """``NASPLUG_DIST_BACKEND`` if set (and not ``auto``), else nccl for CUDA and gloo otherwise."""
    backend = os.environ.get("NASPLUG_DIST_BACKEND", "auto")
    if backend not in BACKENDS:
        raise ConfigError(f"distributed backend {backend!r} is not one of {', '.join(BACKENDS)}")
    if backend != "auto":
        return backend
    return "nccl" if device.startswith("cuda") and torch.cuda.is_available() else "gloo"


class DistContext:
    """This process's place in the world: rank, world size and the collectives the search uses."""

    def __init__(self, rank: int = 0, world_size: int = 1, local_rank: int = 0, backend: str | None = None):
        self.rank, self.world_size, self.local_rank, self.backend = rank, world_size, local_rank, backend

    @property
    def active(self) -> bool:
        return self.world_size > 1

    @property
    def writes_files(self) -> bool:
        return self.rank == 0

    def device(self, requested: str) -> str:
        """``cuda`` becomes this rank's own GPU (``cuda:LOCAL_RANK``); other devices stay as asked."""
        if self.active and requested == "cuda":
            return f"cuda:{self.local_rank}"
        return requested

    def check_batch(self, batch_size: int, what: str = "batch size") -> None:
        if batch_size % self.world_size:
            raise ConfigError(f"{what} {batch_size} is the global batch and must be divisible by the "
                              f"world size {self.world_size}")

    # -- collectives (each is a no-op in a one-process world) ---------------
    def _collective(self, fn, *args, **kwargs):
        try:
            return fn(*args, **kwargs)
        except (RuntimeError, ValueError) as exc:
            raise DistributedError(f"rank {self.rank}/{self.world_size}: a collective failed, another rank "
                                   f"died or timed out ({str(exc).splitlines()[0] if str(exc) else exc!r})") from exc

    def average_gradients(self, params: Iterable[torch.Tensor]) -> None:
        """Replace every gradient by its mean over the ranks.

        A parameter no rank used keeps ``grad=None`` (the optimizer skips it,
        as it would in one process); one that some rank used gets a gradient
        everywhere (zero where unused), so with per-rank architecture
        samples the optimizers still take the same step on every rank.
        """
        if not self.active:
            return
        params = [p for p in params if p.requires_grad]
        if not params:
            return
        import torch.distributed as dist

        used = torch.tensor([p.grad is not None for p in params], dtype=torch.float32,
                            device=params[0].device)
        self._collective(dist.all_reduce, used)
        live = [p for p, u in zip(params, used.tolist()) if u > 0]
        if not live:
            return
        flat = torch.cat([(p.grad if p.grad is not None else torch.zeros_like(p)).reshape(-1) for p in live])
        self._collective(dist.all_reduce, flat)
        flat /= self.world_size
        offset = 0
        for p in live:
            n = p.numel()
            p.grad = flat[offset:offset + n].view_as(p).clone()
            offset += n

    def mean(self, value: float) -> float:
        """The mean of a float over the ranks."""
        if not self.active:
            return float(value)
        return self.sum([value])[0] / self.world_size

    def sum(self, values: Sequence[float]) -> list[float]:
        """Element-wise sums over the ranks (float64, so example counts stay exact)."""
        if not self.active:
            return [float(v) for v in values]
        import torch.distributed as dist

        t = torch.tensor([float(v) for v in values], dtype=torch.float64)
        if self.backend == "nccl":
            t = t.to(f"cuda:{self.local_rank}")
        self._collective(dist.all_reduce, t)
        return t.cpu().tolist()

    def broadcast_module(self, module: nn.Module) -> None:
        """Rank 0's parameters and buffers everywhere (as DDP does at construction)."""
        if not self.active:
            return
        import torch.distributed as dist

        with torch.no_grad():
            for tensor in list(module.parameters()) + list(module.buffers()):
                self._collective(dist.broadcast, tensor.data, 0)

    def broadcast_object(self, obj: Any) -> Any:
        if not self.active:
            return obj
        import torch.distributed as dist

        box = [obj]
        self._collective(dist.broadcast_object_list, box, 0)
        return box[0]

    def gather_objects(self, obj: Any) -> list[Any]:
        """One object per rank, in rank order, on every rank."""
        if not self.active:
            return [obj]
        import torch.distributed as dist

        out: list[Any] = [None] * self.world_size
        self._collective(dist.all_gather_object, out, obj)
        return out

    def barrier(self) -> None:
        if self.active:
            import torch.distributed as dist

            self._collective(dist.barrier)


_CONTEXT: DistContext | None = None


def of(run: Any) -> DistContext:
    """The run's :class:`DistContext`; a one-process world for runs without one (a tabular run)."""
    return getattr(run, "dist", None) or DistContext()


def context(device: str = "cpu") -> DistContext:
    """The process's :class:`DistContext`; joins the launcher's process group on first use."""
    global _CONTEXT
    if _CONTEXT is not None:
        return _CONTEXT
    if not launched():
        return DistContext()
    import torch.distributed as dist

    if not dist.is_available():
        raise ConfigError("this torch build has no torch.distributed; run with one process")
    backend = choose_backend(device)
    if not dist.is_initialized():
        timeout = float(os.environ.get("NASPLUG_DIST_TIMEOUT", DEFAULT_TIMEOUT_S))
        local_rank = int(os.environ.get("LOCAL_RANK", "0"))
        if backend == "nccl":
            torch.cuda.set_device(local_rank)
        dist.init_process_group(backend=backend, timeout=datetime.timedelta(seconds=timeout))
    _CONTEXT = DistContext(dist.get_rank(), dist.get_world_size(), int(os.environ.get("LOCAL_RANK", "0")),
                           dist.get_backend())
    return _CONTEXT


def shutdown(finished: bool = False) -> None:
    """Leave the process group (the end of a launched command).

    ``finished``: the command ended the same way on every rank (done, or
    stopped at the agreed boundary), so the ranks first meet at a barrier.
    Without it, a rank that leaves early tears its gloo connections down
    while rank 0 is still writing the run's files, and about one launch in
    five then aborts in C++ at exit ("terminate called without an active
    exception", SIGABRT) although the search itself succeeded. After an
    error the other ranks may be gone, so there is no barrier to hang on.
    """
    global _CONTEXT
    import torch.distributed as dist

    if dist.is_available() and dist.is_initialized():
        if finished:
            try:
                context().barrier()
            except DistributedError:  # a rank died after its last collective: leave all the same
                pass
        dist.destroy_process_group()
    _CONTEXT = None


def finish(status: int = 0) -> None:
    """The last line of your own script under ``torchrun``: every rank waits for the others, leaves the process
    group and exits with ``status`` (see :func:`exit_process` for why a plain return can end in SIGABRT)."""
    shutdown(finished=True)
    exit_process(status)


def exit_process(status: int) -> None:
    """End a launched rank with ``status`` once its output is flushed, skipping the interpreter's teardown.

    After :func:`shutdown`, torch's C++ side can still hold a gloo or store
    thread that the interpreter's finalization then destroys while it is
    joinable: ``std::terminate`` ("terminate called without an active
    exception"), SIGABRT, and a launcher that reports a finished search as
    failed.  Nothing of the run is left to write by then (the run's files are
    atomic and closed), so the rank flushes its streams and log handlers and
    leaves with ``os._exit``, as the launcher's other workers would see it.
    """
    logging.shutdown()
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError):  # closed or a broken pipe: nothing more can be said there
            pass
    os._exit(status)


class ShardedBatchSampler(Sampler[list[int]]):
    """This rank's disjoint slice of every global batch.

    The global batches are those of ``DataLoader(shuffle=..., drop_last=...,
    generator=generator)`` in one process (the same ``RandomSampler`` draw),
    so seeding ``generator`` per epoch gives every rank the same global order
    and a one-rank world reproduces the single-process loader exactly.
    Rank ``r`` keeps items ``r, r + W, r + 2W, ...`` of each batch: equal
    shards of a batch divisible by the world size, and all examples of a
    ragged last batch (evaluation) are still scored exactly once.
    """

    def __init__(self, dataset_size: int, batch_size: int, dist: DistContext, shuffle: bool, drop_last: bool,
                 generator: torch.Generator | None = None):
        self.size, self.batch_size, self.dist = dataset_size, batch_size, dist
        self.shuffle, self.drop_last = shuffle, drop_last
        self.generator = generator

    def _order(self) -> list[int]:
        if self.shuffle:
            # RandomSampler's draw from the loader's own generator: a one-rank world gives
            # exactly the batches of DataLoader(shuffle=True, generator=...)
            return torch.randperm(self.size, generator=self.generator).tolist()
        return list(range(self.size))

    def __iter__(self) -> Iterator[list[int]]:
        order = self._order()
        for start in range(0, self.size, self.batch_size):
            batch = order[start:start + self.batch_size]
            if self.drop_last and len(batch) < self.batch_size:
                return
            yield batch[self.dist.rank::self.dist.world_size]

    def __len__(self) -> int:
        if self.drop_last:
            return self.size // self.batch_size
        return -(-self.size // self.batch_size)


class _AllReduceSum(torch.autograd.Function):
    """Sum over the ranks, differentiable: the gradient of a sum-reduce is the sum-reduce of the gradients."""

    @staticmethod
    def forward(ctx, x):
        import torch.distributed as dist

        y = x.clone()
        dist.all_reduce(y)
        return y

    @staticmethod
    def backward(ctx, grad):
        import torch.distributed as dist

        grad = grad.clone()
        dist.all_reduce(grad)
        return grad


class _SyncBatchNormCPU(nn.modules.batchnorm._BatchNorm):
    """Batch norm whose training statistics are those of the global batch, over any backend.

    torch's :class:`~torch.nn.SyncBatchNorm` runs on GPUs only; this one
    all-reduces per-channel sums with a differentiable all-reduce (any
    backend, gloo included), so a data-parallel
    step normalises every shard with the global batch's mean and variance,
    exactly as one process with the whole batch.  Running statistics use the
    unbiased global variance, as BatchNorm does.
    """

    def _check_input_dim(self, input):
        if input.dim() < 2:
            raise ValueError(f"expected at least 2D input (got {input.dim()}D input)")

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        import torch.distributed as dist

        if not (self.training and dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1):
            return super().forward(x)
        dims = [0] + list(range(2, x.dim()))
        count = torch.tensor([x.numel() / max(1, x.shape[1])], dtype=x.dtype, device=x.device)
        stats = torch.cat([count, x.sum(dims), (x * x).sum(dims)])
        stats = _AllReduceSum.apply(stats)
        n = stats[0]
        mean = stats[1:1 + x.shape[1]] / n
        var = stats[1 + x.shape[1]:] / n - mean * mean
        if self.track_running_stats and self.running_mean is not None:
            with torch.no_grad():
                self.num_batches_tracked.add_(1)
                m = self.momentum if self.momentum is not None else 1.0 / float(self.num_batches_tracked)
                self.running_mean.mul_(1 - m).add_(m * mean.detach())
                self.running_var.mul_(1 - m).add_(m * var.detach() * n / max(float(n) - 1, 1.0))
        shape = [1, -1] + [1] * (x.dim() - 2)
        out = (x - mean.view(shape)) / torch.sqrt(var.view(shape) + self.eps)
        if self.affine:
            out = out * self.weight.view(shape) + self.bias.view(shape)
        return out


def data_parallel(module: nn.Module, dist: DistContext) -> nn.Module:
    """``module`` in torch's DistributedDataParallel when ``dist`` is active (else ``module`` itself).

    DDP all-reduces the gradients in buckets while backward still runs, and
    averages them over the ranks: the step of :meth:`DistContext.average_gradients`
    without waiting for the whole backward.  Buffers (BatchNorm running
    statistics) stay each rank's own, as before (``broadcast_buffers=False``);
    with ``sync_batchnorm`` they agree anyway.  Retraining uses it.  The
    hand-made :meth:`DistContext.average_gradients` stays where DDP cannot
    serve: a search's weight step goes through the supernet with per-step
    selections, so parameters go unused from step to step (and, with
    ``rank_sampling = "per_rank"``, from rank to rank, which DDP's bucket
    hooks cannot follow), architecture optimizers step parameters outside any
    module's forward (DARTS' second-order step takes gradients of gradients
    with ``torch.autograd.grad``, which DDP's hooks never see), and
    REINFORCE (TuNAS) averages per-rank reward terms, not a loss's gradients.
    """
    if not dist.active:
        return module
    from torch.nn.parallel import DistributedDataParallel

    device = next(module.parameters()).device
    return DistributedDataParallel(module, device_ids=[device] if device.type == "cuda" else None,
                                   broadcast_buffers=False)


def convert_sync_batchnorm(module: nn.Module, dist: DistContext) -> nn.Module:
    """Every BatchNorm of ``module`` with global-batch statistics (torch's SyncBatchNorm on CUDA)."""
    if not dist.active:
        return module
    if dist.backend == "nccl":
        return nn.SyncBatchNorm.convert_sync_batchnorm(module)
    return _replace_batchnorm(module)


def _replace_batchnorm(module: nn.Module) -> nn.Module:
    if isinstance(module, nn.modules.batchnorm._BatchNorm) and not isinstance(module, _SyncBatchNormCPU):
        new = _SyncBatchNormCPU(module.num_features, module.eps, module.momentum, module.affine,
                                module.track_running_stats)
        new.load_state_dict(module.state_dict())
        new.train(module.training)
        return new
    for name, child in module.named_children():
        module.add_module(name, _replace_batchnorm(child))
    return module


def check_strategy(optimizer: Any, name: str, sampling: str) -> None:
    """Refuse an architecture optimizer that cannot run data-parallel, with its own reason."""
    if sampling not in RANK_SAMPLING:
        raise ConfigError(f"rank_sampling {sampling!r} is not one of {', '.join(RANK_SAMPLING)}")
    supported = tuple(getattr(optimizer, "data_parallel", ()))
    if not supported:
        reason = getattr(optimizer, "data_parallel_refusal", None) or \
            "it does not declare data-parallel support (ArchOptimizer.data_parallel)"
        raise ConfigError(f"architecture optimizer {name!r} cannot run distributed: {reason}; "
                          f"run it with one process")
    if sampling not in supported:
        raise ConfigError(f"architecture optimizer {name!r} supports rank_sampling "
                          f"{', '.join(supported)}, not {sampling!r}")


def rank_seed(seed: int, rank: int) -> int:
    """The sampling seed of ``rank`` when every rank draws its own architectures."""
    return (seed * 1_000_003 + 7_919 * (rank + 1)) % (2 ** 63)


# exit codes of a rank that printed its own one-line `nasplug:` message (an error, a stop on SIGINT/SIGTERM)
REPORTED_EXIT_CODES = (2, 130, 143)


def launch_argv(nproc: int, argv: Sequence[str]) -> list[str]:
    """Arguments for ``torch.distributed.run``: ``nproc`` local workers of ``python -m nasplug ARGV``."""
    return ["--standalone", "--nproc-per-node", str(nproc), "-m", "nasplug", *argv]


def launch(nproc: int, argv: Sequence[str], backend: str | None = None) -> int:
    """Run ``nasplug ARGV`` in ``nproc`` processes under torch's elastic launcher; its exit status.

    The launcher watches its workers: when one dies, it stops the others and
    reports the failed rank, so a dead rank ends the job with an error.
    """
    from torch.distributed import run as torchrun
    from torch.distributed.elastic.multiprocessing.api import SignalException
    from torch.distributed.elastic.multiprocessing.errors import ChildFailedError

    if backend:
        os.environ["NASPLUG_DIST_BACKEND"] = backend
    try:
        torchrun.main(launch_argv(nproc, argv))
    except SignalException as exc:
        # the launcher passed the signal on to the ranks and waited for them: they stopped together and
        # rank 0 said where (``nasplug resume`` continues); exit as a process stopped by that signal does
        return 128 + int(exc.sigval)
    except ChildFailedError as exc:
        # failures are keyed by global rank; the earliest is the root cause, the others followed it
        failures = sorted(getattr(exc, "failures", {}).items(), key=lambda item: item[1].timestamp)
        codes = [f.exitcode for _, f in failures]
        # a rank ended with an error or a stop that rank 0 prints (inside its stop handlers, so the launcher's
        # SIGTERM cannot cut it off), the others with it or by the launcher: a second line would only repeat it
        if codes and codes[0] in REPORTED_EXIT_CODES and \
                all(code in REPORTED_EXIT_CODES or code == -signal.SIGTERM for code in codes):
            return codes[0]
        failures = ", ".join(f"rank {rank} (exit code {f.exitcode})" for rank, f in failures) or str(exc)
        raise DistributedError(f"the distributed job failed: {failures}") from exc
    return 0


# -- the hooks of SearchRun --------------------------------------------------
WORLD_FILE = "distributed.json"


def sharded_loader(dataset, batch_size: int, dist: DistContext, shuffle: bool, drop_last: bool, **loader_options):
    """A DataLoader over this rank's shard of every global batch; ``loader.generator`` seeds the order."""
    from torch.utils.data import DataLoader

    if drop_last:
        dist.check_batch(batch_size)
    generator = torch.Generator()
    sampler = ShardedBatchSampler(len(dataset), batch_size, dist, shuffle, drop_last, generator)
    return DataLoader(dataset, batch_sampler=sampler, generator=generator, **loader_options)


def setup_search(run) -> str:
    """Check that the run's strategy can run data-parallel and give each rank its sampling stream.

    Returns the rank sampling in force: ``shared`` (every rank draws the
    same architectures from the seed's generator) or ``per-rank`` (each rank
    reseeds its generator after the shared initialisation).
    """
    cfg = run.config
    sampling = cfg.rank_sampling or getattr(run.spec, "rank_sampling", "shared")
    if not run.dist.active:
        return sampling
    composed = getattr(getattr(run, "composition", None), "config", None)  # the names as resolved
    name = getattr(composed, "arch_optimizer", None) or cfg.arch_optimizer or run.spec.arch_optimizer
    check_strategy(run.optimizer, name, sampling)
    if sampling == "per-rank":
        run.generator.manual_seed(rank_seed(cfg.seed, run.dist.rank))
    return sampling


class SaidByRankZero(NasplugError):
    """The error rank 0 met in a step only it takes; the other ranks stop with it and leave the saying to rank 0."""


def rank0_only(dist: DistContext, action):
    """``action()`` on rank 0 alone (claiming the run directory), with its refusal shared by every rank.

    Without it, rank 0 refuses (another process holds the run directory) and
    leaves, and each other rank, waiting in the next collective, reports a
    failed collective beside rank 0's one clear line.  Rank 0 raises its own
    error; the others raise :class:`SaidByRankZero` with the same text.
    """
    if not dist.active:
        return action()
    result, error = None, None
    if dist.writes_files:
        try:
            result = action()
        except NasplugError as exc:
            error = exc
    message = dist.broadcast_object(None if error is None else str(error))
    if error is not None:
        raise error
    if message is not None:
        raise SaidByRankZero(message)
    return result


def rank0_first(dist: DistContext, build, cache_dir):
    """``build(cache_dir)`` on rank 0, then on the other ranks with rank 0's cache folder.

    A latency model measured on rank 0 and cached in its run directory is
    read back by the others, so every rank scores costs with the same table.
    """
    if not dist.active:
        return build(cache_dir)
    shared = dist.broadcast_object(None if cache_dir is None else str(cache_dir))
    if dist.writes_files:
        result = build(cache_dir)
        dist.barrier()
        return result
    dist.barrier()
    return build(None if shared is None else Path(shared))


def mean_metrics(dist: DistContext, sums: dict[str, float]) -> dict[str, float]:
    """Per-key means over the ranks of an epoch's metric sums (so logs describe the global batch)."""
    if not dist.active:
        return sums
    merged: dict[str, list[float]] = {}
    for rank_sums in dist.gather_objects(dict(sums)):
        for key, value in rank_sums.items():
            merged.setdefault(key, []).append(float(value))
    return {key: sum(values) / len(values) for key, values in merged.items()}


def max_nproc() -> int:
    """The most local processes ``--nproc`` may start: 4 per CPU core (more only thrash)."""
    return 4 * (os.cpu_count() or 1)


def check_launch(nproc: int, backend: str, device: str) -> None:
    """Refuse a launch that cannot work, before a single rank is spawned (every rank would say it again).

    ``nproc`` in [1, :func:`max_nproc`] (and at most one per GPU with nccl);
    the backend built into this torch and usable on this machine (nccl needs
    CUDA).  A resumed run's ``distributed.json`` is checked by the run
    directory's owner (``run_directory.recorded_world_size``).
    """
    if isinstance(nproc, bool) or not isinstance(nproc, int) or not 1 <= nproc <= max_nproc():
        raise ConfigError(f"--nproc must be an integer in [1, {max_nproc()}] (4 processes per CPU core), got {nproc}")
    if nproc > 1:
        import torch.distributed as dist

        if not dist.is_available():
            raise ConfigError("this torch build has no torch.distributed; run with one process (no --nproc)")
        cuda = device.startswith("cuda") and torch.cuda.is_available()
        chosen = ("nccl" if cuda else "gloo") if backend == "auto" else backend
        available = {"gloo": dist.is_gloo_available(), "nccl": dist.is_nccl_available() and torch.cuda.is_available(),
                     "mpi": dist.is_mpi_available()}
        if not available.get(chosen, False):
            usable = ", ".join(name for name, ok in available.items() if ok) or "none"
            why = "needs CUDA GPUs" if chosen == "nccl" and not torch.cuda.is_available() else \
                "is not built into this torch"
            raise ConfigError(f"--dist-backend {chosen} {why}; usable here: {usable}")
        if chosen == "nccl" and nproc > torch.cuda.device_count():
            raise ConfigError(f"--nproc {nproc} with nccl needs one GPU per process; this machine has "
                              f"{torch.cuda.device_count()}")
