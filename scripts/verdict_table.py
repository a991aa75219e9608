#!/usr/bin/env python3
"""The rows of BENCHMARKS.md's "The verdict's margins" from docs/verdict/*.json
(written by scripts/verdict_sweep.sh or the `wgsl-nn selftest` commands named
in each row). Prints Markdown table rows and the two margins."""
import glob
import json
import os
import sys

here = os.path.join(os.path.dirname(__file__), "..", "docs", "verdict")
rows, worst_correct, weakest_mutant, mutant_counts = [], (0.0, ""), (float("inf"), ""), []
for f in sorted(glob.glob(os.path.join(here, "*.json"))):
    name = os.path.basename(f)
    text = open(f).read()
    if not text.strip():
        print(f"(skipped {name}: empty, a sweep still running?)", file=sys.stderr)
        continue
    doc = json.loads(text)
    for a in doc["adapters"]:
        adapter = f"{a['adapter']['name']} ({a['adapter']['backend']})"
        if "mutants" in a:
            finite = [r for r in a["runs"] if r["err_over_bound"] is not None]
            w = min(finite, key=lambda r: r["err_over_bound"])
            rows.append(
                f"| planted faults, small and largest sizes | {adapter} | `selftest --mutants --all-adapters` ({name}) "
                f"| {a['mutants']} ({a['planted_in_kernels']} in kernels) | {a['mutants'] - a['caught']} missed "
                f"| weakest catch {w['err_over_bound']:.2f}x ({w['mutant']}, {w['size']}) |"
            )
            mutant_counts.append(f"{a['caught']} of {a['mutants']} runs caught on {adapter}")
            if w["err_over_bound"] < weakest_mutant[0]:
                weakest_mutant = (w["err_over_bound"], f"{w['mutant']}, {w['size']}")
        else:
            first = a.get("first_seed", 0)
            large = "large" in name
            what = "every rung at the largest sizes" if large else "the selftest's shapes, every rung"
            cmd = f"`selftest --seeds {a['seeds']}{' --first-seed ' + str(first) if first else ''}{' --large-only' if large else ''}`"
            runs = sum(k["runs"] for k in a["kernels"].values())
            rows.append(
                f"| {what}, seeds {first}..{first + a['seeds'] - 1} | {adapter} | {cmd} ({name}) | {runs} | "
                f"{a['false_alarms']} false alarms | {a['largest_err_over_bound']:.3f} ({a['largest_in']}) |"
            )
            if a["largest_err_over_bound"] > worst_correct[0]:
                worst_correct = (a["largest_err_over_bound"], a["largest_in"])
print("\n".join(rows))
print(f"\ncorrect runs at most {worst_correct[0]:.2f} of the bound ({worst_correct[1]})")
print(f"mutants at least {weakest_mutant[0]:.1f}x the bound ({weakest_mutant[1]}); " + "; ".join(mutant_counts))
