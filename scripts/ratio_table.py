#!/usr/bin/env python3
"""Prints issue 7's device ratio table: for each op and shape in the bench
CSVs, the fastest passing GPU rung against PyTorch's time for the same
workload (from scripts/pytorch_bench.py's output).

usage: ratio_table.py PYTORCH_TXT BENCH_CSV [BENCH_CSV ...]"""
import csv
import re
import sys

TARGETS = {"matmul": 0.6, "attention": 0.5}  # issue 7: fraction of PyTorch


def pytorch_times(path):
    out = {}
    for line in open(path):
        m = re.match(r"(\w+)\s+(.+?)\s{2,}pytorch .*?\s([\d.]+) ms", line)
        if m:
            out[(m.group(1), m.group(2).strip())] = float(m.group(3))
    return out


def shape_key(op, shape):
    # bench and the PyTorch script name shapes alike; attention rows may
    # carry extra words after "L=...".
    return (op, shape.strip())


def main():
    torch = pytorch_times(sys.argv[1])
    best = {}
    for path in sys.argv[2:]:
        for row in csv.DictReader(open(path)):
            if not row["implementation"].startswith("gpu") or row["passed"] != "true":
                continue
            key = shape_key(row["op"], row["shape"])
            ms = float(row["median_ms"])
            if key not in best or ms < best[key][0]:
                best[key] = (ms, row["implementation"][4:], row["adapter"])
    print(f"{'op':<10} {'shape':<42} {'fastest rung':<14} {'wgsl-nn ms':>11} {'pytorch ms':>11} {'ratio':>7}  target")
    for key, (ms, rung, adapter) in sorted(best.items()):
        t = torch.get(key)
        if t is None:
            continue
        ratio = t / ms
        target = TARGETS.get(key[0])
        verdict = "" if target is None else f">= {target}x: {'met' if ratio >= target else 'not met'}"
        print(f"{key[0]:<10} {key[1]:<42} {rung:<14} {ms:>11.3f} {t:>11.3f} {ratio:>6.3f}x  {verdict}")


if __name__ == "__main__":
    main()
