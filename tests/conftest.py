"""Shared test settings: one torch thread per test process (the CI machine has 2 cores, and a
contended torch is many times slower), and subprocess environments that inherit it."""

import os

import torch

torch.set_num_threads(1)
os.environ.setdefault("OMP_NUM_THREADS", "1")
