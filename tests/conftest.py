"""Shared test settings: one torch thread per test process (the CI machine has 2 cores, and a
contended torch is many times slower), and subprocess environments that inherit it. The variable
is forced, not defaulted: a subprocess run compared bit-for-bit with an in-process one must use the
same thread count, since reductions split across threads round differently."""

import os

import torch

torch.set_num_threads(1)
os.environ["OMP_NUM_THREADS"] = "1"
