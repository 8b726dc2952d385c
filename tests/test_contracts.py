"""The kernel's own components pass the conformance kit, exactly as a plugin author runs it on theirs.

Each plugin's tests run the same kit on that plugin's components
(``cases("nasplug-<name>")``), so every installed component is checked once:
samplers on every installed space, optimizers through a seeded two-epoch
search and a resume from ``state_dict``.
"""

import pytest

from nasplug.testing import cases


@pytest.mark.parametrize("case", cases("nasplug"), ids=str)
def test_kernel_component_keeps_the_contract(case):
    case.run_in_pytest()
