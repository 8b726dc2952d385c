"""nasplug-nb201's components pass nasplug's conformance kit (`python -m nasplug.testing nasplug-nb201`)."""

import pytest

from nasplug.testing import cases


@pytest.mark.parametrize("case", cases("nasplug-nb201"), ids=str)
def test_component_keeps_the_contract(case):
    case.run_in_pytest()
