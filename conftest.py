"""Repository-wide test set-up, shared by the kernel's, the plugins' and the example's tests.

The test models are tiny: one torch thread runs them about as fast as two, and
it cannot be slowed down by oversubscription when the machine is busy (several
threads spinning on two shared cores made steps ten times slower here).
"""

import torch

torch.set_num_threads(1)
