"""nasplug-gibbs's components pass nasplug's conformance kit (`python -m nasplug.testing nasplug-gibbs`)."""

import pytest

from nasplug.testing import cases


@pytest.mark.parametrize("case", cases("nasplug-gibbs"), ids=str)
def test_component_keeps_the_contract(case):
    case.run_in_pytest()
