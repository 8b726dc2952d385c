"""Repository-wide test set-up, shared by the kernel's, the plugins' and the example's tests.

The test models are tiny: one torch thread runs them about as fast as two, and
it cannot be slowed down by oversubscription when the machine is busy (several
threads spinning on two shared cores made steps ten times slower here).

Hypothesis explores new examples on every local run (that is how it found the
BFGS overflow in nasplug-gibbs); under CI (``CI`` set, as ``.ci/run`` does) it
draws a fixed set, so a red CI always reproduces.
"""

import os

import torch
from hypothesis import settings

torch.set_num_threads(1)

settings.register_profile("ci", derandomize=True, database=None, print_blob=True)
if os.environ.get("CI"):
    settings.load_profile("ci")
