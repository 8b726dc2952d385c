"""Amended-DARTS vs second-order DARTS: one full architecture step each (nasplug-amended).

Keys: ``amended_over_darts2nd`` (exact double-backward products, the default,
against DARTS-2nd with the reference code's finite difference),
``amended_fd_over_darts2nd`` (the finite-difference option),
``amended_over_darts2nd_exact`` (both with exact products: what the amended
term itself costs over DARTS's identity-Hessian term),
``darts1st_over_darts2nd``, and ``amended_torch_grouped_over_amended``: the
exact step with PyTorch's own double backward for the grouped convolutions
(nasplug's :class:`~nasplug.spaces.grouped_conv.GroupedConv2d` switched off)
over the default.  The parts of the amended step are timed too, each over
one plain training forward+backward (``*_over_forward_backward``).  Each step
is timed on the same shared batch, from the same initial weights, with the
weights restored between calls.
"""

from __future__ import annotations

import contextlib
from unittest import mock

#: the plugin whose components this part measures (the part is skipped without it)
PLUGIN = "nasplug_amended"


def _searching_run(bench, strategy, **options):
    """A run one weight step in (a momentum buffer, as in a running search), and the shared batches."""
    run = bench.run(strategy, optimizer_options=options) if options else bench.run(strategy)
    train_batch, valid_batch = bench.batches()
    run.optimizer.weight_step(run, *train_batch)
    return run, train_batch, valid_batch


def _arch_step_timer(bench, strategy, **options):
    run, train_batch, valid_batch = _searching_run(bench, strategy, **options)
    return lambda: run.optimizer.arch_step(run, train_batch, valid_batch)


def _torch_grouped_double_backward():
    from nasplug_amended import second_order

    return mock.patch.object(second_order, "second_order_graph", contextlib.nullcontext)


def _parts(bench) -> dict:
    """The amended step's pieces: a plain pass, the pass with graph, H v, the mixed product."""
    from nasplug_amended.second_order import ArchStep, grad, val_loss

    run, train_batch, valid_batch = _searching_run(bench, "amended")
    step = ArchStep(run)
    loss, _ = val_loss(run, *valid_batch, step.fresh())
    v = grad(loss, step.params)
    plain = bench.time("  plain training forward+backward", lambda: grad(step.loss("train", train_batch), step.params),
                       memory=False)
    with_graph = bench.time("  training forward+backward with graph",
                            lambda: step.weight_gradient_graph(train_batch), memory=False)
    g_w = step.weight_gradient_graph(train_batch)
    hv = bench.time("  H v (double backward)",
                    lambda: grad(g_w, step.params, grad_outputs=v, retain_graph=True), memory=False)
    u = [t.detach() for t in grad(g_w, step.params, grad_outputs=v, retain_graph=True)]
    mixed = bench.time("  mixed product (double backward)",
                       lambda: grad(g_w, step.leaves, grad_outputs=u, retain_graph=True), memory=False)
    return {"graph_pass_over_forward_backward": with_graph / plain, "hv_over_forward_backward": hv / plain,
            "mixed_over_forward_backward": mixed / plain}


def measure(bench) -> dict:
    darts2 = bench.time("darts-2nd arch step (finite-difference Hv)", _arch_step_timer(bench, "darts-2nd"))
    amended = bench.time("amended arch step (exact double backward)", _arch_step_timer(bench, "amended"))
    with _torch_grouped_double_backward():
        amended_torch = bench.time("amended arch step (torch's grouped double backward)",
                                   _arch_step_timer(bench, "amended"))
    amended_fd = bench.time("amended arch step (finite differences)",
                            _arch_step_timer(bench, "amended", eta=0.1, hvp="finite"))
    darts2_exact = bench.time("darts-2nd arch step (exact double backward)",
                              _arch_step_timer(bench, "darts-2nd", hvp="exact"))
    darts1 = bench.time("darts-1st arch step", _arch_step_timer(bench, "darts"))
    return {"amended_over_darts2nd": amended / darts2, "amended_fd_over_darts2nd": amended_fd / darts2,
            "amended_over_darts2nd_exact": amended / darts2_exact, "darts1st_over_darts2nd": darts1 / darts2,
            "amended_torch_grouped_over_amended": amended_torch / amended, **_parts(bench)}
