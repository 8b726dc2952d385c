"""NAS-Bench-201 for nasplug: the tabular benchmark, device latency tables, query-budget search.

* :class:`~nasplug_nb201.table.NB201Table` and :func:`~nasplug_nb201.loading.load_table`:
  the table, from the CSV form or the official release.
* benchmark ``nb201`` (:class:`~nasplug_nb201.benchmark.NB201Benchmark`): ground truth for
  genotypes of the kernel's ``nb201`` space.
* latency model ``nb201-table`` (:class:`~nasplug_nb201.latency.TableLatencyModel`): a device column.
* arch optimizer ``rea`` (:class:`~nasplug_nb201.evolution.RegularizedEvolution`) and
  :class:`~nasplug_nb201.evolution.RandomQuerySearch`; :class:`~nasplug_nb201.tabular.TabularRun`
  drives any query-driven optimizer (REINFORCE included) on the table.
"""

from nasplug.lazy import lazy_exports

_EXPORTS = {
    "NB201Benchmark": "nasplug_nb201.benchmark",
    **dict.fromkeys(("RandomQuerySearch", "RegularizedEvolution", "mutate"), "nasplug_nb201.evolution"),
    **dict.fromkeys(("TableLatencyModel", "additive_fit"), "nasplug_nb201.latency"),
    **dict.fromkeys(("default_dir", "load_table"), "nasplug_nb201.loading"),
    **dict.fromkeys(("DATASETS", "NB201Table", "TableEntry"), "nasplug_nb201.table"),
    **dict.fromkeys(("TabularResult", "TabularRun"), "nasplug_nb201.tabular"),
}
__getattr__ = lazy_exports(__name__, _EXPORTS)

__all__ = ["DATASETS", "NB201Benchmark", "NB201Table", "RandomQuerySearch", "RegularizedEvolution",
           "TableEntry", "TableLatencyModel", "TabularResult", "TabularRun", "additive_fit", "default_dir",
           "load_table", "mutate"]
