#!/usr/bin/env python3
"""Times shell commands in the same run, interleaved, and prints medians.

Usage: timeit.py RUNS LABEL=COMMAND [LABEL=COMMAND ...]
Each round runs every command once (so machine noise hits all alike); one
warm-up round is discarded. Prints a JSON object: label -> {median_ms, min_ms}.
"""
import json
import statistics
import subprocess
import sys
import time

runs = int(sys.argv[1])
commands = [arg.split("=", 1) for arg in sys.argv[2:]]
samples = {label: [] for label, _ in commands}
for round_ in range(runs + 1):
    for label, cmd in commands:
        start = time.perf_counter()
        subprocess.run(cmd, shell=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=False)
        elapsed = (time.perf_counter() - start) * 1000
        if round_ > 0:
            samples[label].append(elapsed)
print(json.dumps({label: {"median_ms": round(statistics.median(s), 2), "min_ms": round(min(s), 2)} for label, s in samples.items()}))
