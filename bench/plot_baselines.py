#!/usr/bin/env python3
"""Speedup over the same-run cuBLAS time, by shape, for the vendor sparse baselines.

usage: python3 bench/plot_baselines.py [bench/results/baselines.jsonl] [out.png]
"""
import json
import sys

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

src = sys.argv[1] if len(sys.argv) > 1 else "bench/results/baselines.jsonl"
dst = sys.argv[2] if len(sys.argv) > 2 else "bench/results/baselines_speedup.png"
rows = [json.loads(line) for line in open(src) if line.strip()]
rows = [r for r in rows if r["dtype"] == "f16" and r["pattern"] != "cublas"]

shapes = []  # in first-seen order
for r in rows:
    key = (r["m"], r["k"], r["n"])
    if key not in shapes:
        shapes.append(key)
x_of = {s: i for i, s in enumerate(shapes)}

series = {}
for r in rows:
    label = r["pattern"] if r["pattern"] == "cusparselt-24" else f'{r["pattern"]} {round(r["sparsity"] * 100)}%'
    series.setdefault(label, []).append((x_of[(r["m"], r["k"], r["n"])], r["speedup"]))

fig, ax = plt.subplots(figsize=(max(10, len(shapes) * 0.3), 5))
for label, pts in sorted(series.items()):
    pts.sort()
    ax.plot([p[0] for p in pts], [p[1] for p in pts], marker="o", ms=3, lw=1, label=label)
ax.axhline(1.0, color="k", lw=0.8)
ax.set_yscale("log")
ax.set_xticks(range(len(shapes)))
ax.set_xticklabels([f"{m}x{k}x{n}" for m, k, n in shapes], rotation=90, fontsize=6)
ax.set_ylabel("speedup over cuBLAS fp16 (same run)")
ax.set_title("Vendor sparse baselines vs cuBLAS, fp16, H100 (M x K x N)")
ax.legend(fontsize=7)
fig.tight_layout()
fig.savefig(dst, dpi=120)
print("wrote", dst)
