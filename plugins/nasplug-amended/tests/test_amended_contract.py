"""nasplug-amended's components pass nasplug's conformance kit (`python -m nasplug.testing nasplug-amended`)."""

import pytest

from nasplug.testing import cases


@pytest.mark.parametrize("case", cases("nasplug-amended"), ids=str)
def test_component_keeps_the_contract(case):
    case.run_in_pytest()
