import subprocess
import sys

import pytest

from textgan.device import keep_freed_cpu_memory

# Four 26 MB tensors alive at once, freed, again: the step pattern of an MLE step over 5,000 tokens.
PROBE = """
import resource, torch
from textgan.device import keep_freed_cpu_memory

def faults_per_round():
    for _ in range(2):  # warm-up: the heap grows once
        tensors = [torch.ones(1280, 5000) for _ in range(4)]
        del tensors
    before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
    for _ in range(5):
        tensors = [torch.ones(1280, 5000) for _ in range(4)]
        del tensors
    return (resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before) / 5

default = faults_per_round()
assert keep_freed_cpu_memory()
print(default, faults_per_round())
"""


def test_keep_freed_cpu_memory_stops_the_page_faults_of_reallocated_tensors():
    if not keep_freed_cpu_memory():
        pytest.skip("not glibc")
    out = subprocess.run([sys.executable, "-c", PROBE], capture_output=True, text=True, check=True).stdout
    default, kept = map(float, out.split())
    # by default the blocks go back to the kernel and fault in again: 6,250 4-KB pages per tensor, fewer
    # where the kernel maps larger folios (5,000 per round of four measured on kernel 6.18)
    assert default > 1_000
    assert kept < 100
