"""DARTS and Amended-DARTS for nasplug.

Components: the architecture optimizers ``darts-1st``, ``darts-2nd`` and
``amended``, the edge-fixed spaces ``darts-s1`` and ``darts-s2`` of Bi et al.
(2019), and the strategy presets ``darts``, ``darts-2nd`` and ``amended``.
The presets use the kernel's ``mixture`` sampler (DARTS's continuous
relaxation), which GibbsNAS uses too.
"""

__version__ = "0.1.0"
