"""DARTS and Amended-DARTS for nasplug.

Components: the ``mixture`` sampler (DARTS's continuous relaxation), the
architecture optimizers ``darts-1st``, ``darts-2nd`` and ``amended``, the
edge-fixed spaces ``darts-s1`` and ``darts-s2`` of Bi et al. (2019), and the
strategy presets ``darts``, ``darts-2nd`` and ``amended``.
"""

__version__ = "0.1.0"
