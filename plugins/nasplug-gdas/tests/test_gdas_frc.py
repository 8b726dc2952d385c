"""The fixed reduction cell, the darts-frc space and the published cells."""

import pytest
import torch

from nasplug import registry
from nasplug.errors import ConfigError
from nasplug.train import load_genotype_record

from nasplug_gdas.frc import DartsFRCSpace, FixedReductionCell


@pytest.mark.parametrize("size,reduction_prev", [(8, False), (7, True), (32, False)])
def test_fixed_reduction_cell_halves_resolution_and_emits_4C(size, reduction_prev):
    C_pp_size = size * 2 if reduction_prev else size
    cell = FixedReductionCell(12, 10, 8, reduction_prev, affine=True)
    out = cell(torch.randn(2, 12, C_pp_size, C_pp_size), torch.randn(2, 10, size, size))
    half = (size + 1) // 2
    assert out.shape == (2, 32, half, half)
    out.sum().backward()
    assert all(p.grad is not None for p in cell.parameters())


def test_darts_frc_searches_only_the_normal_cell():
    space = DartsFRCSpace(C=4, layers=3)
    names = space.decision_names()
    assert names and all(n.startswith("normal:") for n in names)
    assert len(names) == 14
    with pytest.raises(ConfigError, match="search_reduction"):
        DartsFRCSpace(search_reduction=True)
    assert registry.get("space", "darts-frc", C=4).search_reduction is False


def test_darts_frc_supernet_and_derived_child_run():
    space = DartsFRCSpace(C=4, layers=3)
    net = space.build_supernet((1, 8, 8), 10)
    assert sum(isinstance(c, FixedReductionCell) for c in net.cells) == 2
    choices = space.sample(torch.Generator().manual_seed(0))
    logits = net(torch.randn(3, 1, 8, 8), space.selections(choices))
    assert logits.shape == (3, 10)
    genotype = space.genotype_from_choices(choices)
    assert genotype.reduce is None
    assert space.choices_from_genotype(genotype) == choices
    child = space.build_child(genotype, (1, 8, 8), 10)
    assert child(torch.randn(3, 1, 8, 8)).shape == (3, 10)


@pytest.mark.parametrize("name,space_name,has_reduce", [("gdas", "darts", True), ("gdas_frc", "darts-frc", False)])
def test_named_genotypes_build_the_papers_networks(name, space_name, has_reduce):
    record = load_genotype_record(name)
    assert record["space"] == space_name and record["space_options"] == {"C": 36, "layers": 20}
    space = registry.get("space", space_name, C=4, layers=3)
    genotype = space.genotype_from_json(record["genotype"])
    assert (genotype.reduce is not None) == has_reduce
    assert all(len(node) == 2 for node in genotype.normal)
    child = space.build_child(genotype, (3, 16, 16), 10)
    assert child(torch.randn(2, 3, 16, 16)).shape == (2, 10)


def test_paper_size_frc_network_is_smaller_than_gdas():
    """Tab. 1: GDAS (FRC) has fewer parameters than GDAS (2.5M vs 3.4M at C=36, N=6)."""
    def params(name):
        record = load_genotype_record(name)
        space = registry.get("space", record["space"], **record["space_options"])
        child = space.build_child(space.genotype_from_json(record["genotype"]), (3, 32, 32), 10)
        return sum(p.numel() for p in child.parameters())

    frc, full = params("gdas_frc"), params("gdas")
    assert frc < full
    assert 2.0e6 < frc < 3.0e6 and 3.0e6 < full < 3.8e6
