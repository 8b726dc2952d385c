"""The plugin conformance kit: checks that an installed plugin keeps nasplug's component contracts.

Run it against your installed distribution with one command::

    python -m nasplug.testing nasplug-mine

or from your own tests (pytest), one case per component::

    import pytest
    from nasplug.testing import cases

    @pytest.mark.parametrize("case", cases("nasplug-mine"), ids=str)
    def test_contract(case):
        case.run_in_pytest()  # a check that cannot run here (a dataset on disk) is skipped

Each failure is a :class:`ContractViolation` naming the component and the
rule it broke (the rules are listed in CONTRIBUTING.md, "Contract
reference").  Checks build tiny components (a space's ``test_options``),
run one- or two-epoch searches of two steps, write only to a temporary
directory, and cover: spaces (decisions, genotype round trips, seeded
sampling, supernet and child forward passes), every sampler on every
installed space that accepts it, architecture optimizers (a search, the
same seed twice, a resume from ``state_dict``), rewards, latency models,
datasets, strategy presets and named genotypes, and unknown options.
"""

from nasplug.testing.rules import ContractViolation, Skip
from nasplug.testing.runner import CHECKS, Case, cases, run_cases
from nasplug.testing.search_parts import (check_arch_optimizer, check_dataset, check_genotype, check_latency_model,
                                          check_proxy, check_reward, check_strategy)
from nasplug.testing.search_parts import check_sampler_resumes as check_sampler  # its rules, then the resume rule
from nasplug.testing.spaces import check_space

__all__ = ["CHECKS", "Case", "ContractViolation", "Skip", "cases", "check_arch_optimizer", "check_dataset",
           "check_genotype", "check_latency_model", "check_proxy", "check_reward", "check_sampler", "check_space",
           "check_strategy", "run_cases"]
