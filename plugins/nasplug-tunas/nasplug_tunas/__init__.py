"""TuNAS for nasplug: REINFORCE over independent categoricals with shared weights (Bender et al., CVPR 2020)."""
