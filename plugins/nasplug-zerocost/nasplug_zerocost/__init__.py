"""nasplug-zerocost: training-free proxies as a component kind (``proxy``) and the searches built on them.

Nothing is imported here: ``nasplug --help`` loads the plugin's presets, and that must not import torch.
The proxies are in :mod:`nasplug_zerocost.proxies`, the searches in :mod:`nasplug_zerocost.search` and
:mod:`nasplug_zerocost.driven`.
"""
