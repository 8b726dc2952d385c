"""nasplug-gdas's components pass nasplug's conformance kit (`python -m nasplug.testing nasplug-gdas`)."""

import pytest

from nasplug.testing import cases


@pytest.mark.parametrize("case", cases("nasplug-gdas"), ids=str)
def test_component_keeps_the_contract(case):
    case.run_in_pytest()
