#!/usr/bin/env python3
"""TW (and TEW) speedup over the same-run cuBLAS time vs sparsity, and issue 5's targets.

usage: python3 bench/plot_tw.py [bench/results/tw.jsonl] [--out bench/results/tw_speedup.png]
                                [--dtype f16] [--pattern tw] [--epilogue none] [--impl NAME] [--no-plot]

The figure has one row of panels per tile width G and one panel per shape group
(BERT-base, BERT-large, TileSparsity, other): a line per shape, solid for the row-major
activation layout and dashed for the transposed one, each against cuBLAS in its own
layout (the analogue of the TW paper's Fig. 9b / Fig. 11). The target table goes to
stdout; a target with no rows says "not measured". A file holding rows of several
16-bit TW kernels (tilesparse-bench --kernel) is read one kernel at a time: --impl names
it (params.impl, e.g. cuda.tw.mma); rows without params.impl count as any.
"""
import argparse
import csv
import json
import math
import os
import sys
from collections import defaultdict

SWEEP = [0.0, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.75, 0.8, 0.9, 0.95, 0.99]
LAYOUTS = ["row_major", "transposed"]
GROUPS = ["BERT-base", "BERT-large", "TileSparsity", "other"]


def load(path):
    rows = []
    with open(path) as f:
        for n, line in enumerate(f, 1):
            line = line.strip()
            if not line:
                continue
            try:
                rows.append(json.loads(line))
            except json.JSONDecodeError as e:
                print(f"{path}:{n}: skipped, not JSON ({e})", file=sys.stderr)
    return rows


def shape_ids(shapes_csv):
    """(m, k, n) -> (id, suite) from bench/shapes.csv, for rows written without shape_id."""
    out = {}
    if os.path.exists(shapes_csv):
        with open(shapes_csv) as f:
            for r in csv.DictReader(f):
                out.setdefault((int(r["m"]), int(r["k"]), int(r["n"])), (r["id"], r["suite"]))
    return out


def param(r, key, default=None):
    return (r.get("params") or {}).get(key, default)


def target_sparsity(r):
    """The requested sparsity (params.target_sparsity), else the achieved one rounded to the sweep."""
    t = param(r, "target_sparsity")
    if t is not None:
        return round(float(t), 4)
    s = float(r["sparsity"])
    near = min(SWEEP, key=lambda x: abs(x - s))
    return near if abs(near - s) <= 0.01 else round(s, 4)


def group_of(shape_id, suite):
    if shape_id.startswith("bert-base"):
        return "BERT-base"
    if shape_id.startswith("bert-large"):
        return "BERT-large"
    if suite == "tilesparsity" or shape_id.startswith("tw-"):
        return "TileSparsity"
    return "other"


def geomean(xs):
    xs = [x for x in xs if x and x > 0]
    return math.exp(sum(math.log(x) for x in xs) / len(xs)) if xs else None


class Table:
    """Latest row per (pattern, dtype, layout, G, output, epilogue, shape, sparsity)."""

    def __init__(self, rows, ids, impl=None):
        self.rows = {}
        for r in rows:
            if r.get("op") != "matmul" or r.get("speedup") is None:
                continue
            sixteen_bit_tw = r["pattern"] in ("tw", "tew") and r["dtype"] in ("f16", "bf16")
            if impl and sixteen_bit_tw and param(r, "impl") not in (None, impl, impl.replace(".tw.", ".tew.")):
                continue
            key_shape = (r["m"], r["k"], r["n"])
            sid = r.get("shape_id") or ids.get(key_shape, (f'{r["m"]}x{r["k"]}x{r["n"]}', ""))[0]
            suite = ids.get(key_shape, ("", ""))[1]
            g = param(r, "g")
            key = (
                r["pattern"],
                r["dtype"],
                param(r, "layout", "row_major"),
                int(float(g)) if g is not None else None,
                param(r, "output", "full"),
                param(r, "epilogue", "none"),
                sid,
                target_sparsity(r),
            )
            r["_shape_id"], r["_suite"] = sid, suite
            self.rows[key] = r  # later lines (re-runs) replace earlier ones

    def select(self, pattern, dtype, layout, g, output="full", epilogue="none", shape=None, sparsity=None):
        out = []
        for (p, d, l, gg, o, e, sid, s), r in self.rows.items():
            if (p, d, l, o, e) != (pattern, dtype, layout, output, epilogue):
                continue
            if g is not None and gg != g:
                continue
            if shape is not None and not shape(r):
                continue
            if sparsity is not None and abs(s - sparsity) > 1e-6:
                continue
            out.append(r)
        return out

    def curve(self, pattern, dtype, layout, g, shape_id, output="full", epilogue="none"):
        pts = [
            (target_sparsity(r), r["speedup"])
            for r in self.select(pattern, dtype, layout, g, output, epilogue, shape=lambda r: r["_shape_id"] == shape_id)
        ]
        return sorted(pts)


def is_bert_large_4096(r):
    return r["_shape_id"].startswith("bert-large") and r["m"] == 4096


def break_even(points):
    """Lowest sparsity where speedup reaches 1.0, by linear interpolation between measured points."""
    if not points:
        return None, "not measured"
    if points[0][1] >= 1.0:
        return points[0][0], f"{points[0][0]:.0%} (already >= 1 at the lowest sparsity measured)"
    for (s0, v0), (s1, v1) in zip(points, points[1:]):
        if v0 < 1.0 <= v1:
            s = s0 + (1.0 - v0) * (s1 - s0) / (v1 - v0)
            return s, f"{s:.1%}"
    return None, f"never (max {max(v for _, v in points):.2f}x)"


def targets(t, args):
    pat, dt, ep = args.pattern, args.dtype, args.epilogue
    bl4096 = ["bert-large-qkv-4096", "bert-large-attn-out-4096", "bert-large-ffn1-4096", "bert-large-ffn2-4096"]
    print(f"# Issue 5 targets ({pat}, epilogue {ep}; ratios to cuBLAS of the same dtype, layout and run)")
    print(f"{'target':<58} {'layout':<11} {'value':>22}  {'goal':<8} verdict")

    def line(name, layout, value, goal, ok):
        verdict = "not measured" if ok is None else ("MET" if ok else "missed")
        if ok is not None and "/4 shapes" in value and "(4/4" not in value:
            verdict += " (partial: not every shape measured)"
        print(f"{name:<58} {layout:<11} {value:>22}  {goal:<8} {verdict}")

    def geo_at(dtype, layout, sparsity, output="full"):
        rs = t.select(pat, dtype, layout, 128, output, ep, shape=is_bert_large_4096, sparsity=sparsity)
        g = geomean([r["speedup"] for r in rs])
        if g is None:
            return "not measured", None
        n = len({r["_shape_id"] for r in rs})
        return f"{g:.2f}x ({n}/4 shapes)", g

    for layout in LAYOUTS:
        v, g = geo_at(dt, layout, 0.75)
        line(f"{dt} 75%, G=128, BERT-large m=4096, geomean", layout, v, ">= 3.0x", None if g is None else g >= 3.0)
    for layout in LAYOUTS:
        # The geomean curve over the four BERT-large m=4096 shapes (sparsities all four have).
        by_s = defaultdict(list)
        for sid in bl4096:
            for s, v in t.curve(pat, dt, layout, 128, sid, "full", ep):
                by_s[s].append(v)
        pts = sorted((s, geomean(vs)) for s, vs in by_s.items() if len(vs) == 4)
        s, text = break_even(pts)
        line(f"{dt} break-even sparsity, G=128, BERT-large m=4096 geomean", layout, text, "<= 30%",
             None if not pts else (s is not None and s <= 0.30))
        worst = []
        for sid in sorted({r["_shape_id"] for r in t.select(pat, dt, layout, 128, "full", ep)}):
            s_i, _ = break_even(t.curve(pat, dt, layout, 128, sid, "full", ep))
            worst.append((1.0 if s_i is None else s_i, sid))
        if worst:
            w = max(worst)
            text = "never" if w[0] >= 1.0 else f"{w[0]:.1%}"
            print(f"{'  (worst shape of all measured: ' + w[1] + ')':<58} {layout:<11} {text:>22}")
    for layout in LAYOUTS:
        v, g = geo_at(dt, layout, 0.0)
        line(f"{dt} 0%, G=128, BERT-large m=4096, geomean", layout, v, ">= 0.85x", None if g is None else g >= 0.85)
        rs = t.select(pat, dt, layout, 128, "full", ep, sparsity=0.0)
        if rs:
            r = min(rs, key=lambda r: r["speedup"])
            print(f"{'  (lowest of all measured shapes: ' + r['_shape_id'] + ')':<58} {layout:<11} {r['speedup']:>21.2f}x")
    for output in ["full", "compact"]:
        for layout in LAYOUTS:
            v, g = geo_at(dt, layout, 0.99, output)
            line(f"{dt} 99%, G=128, BERT-large m=4096, geomean, {output} output", layout, v, ">= 15x",
                 None if g is None else g >= 15.0)
    for layout in LAYOUTS:
        v, g = geo_at("f32", layout, 0.75)
        line("f32 (CUDA cores) 75%, G=128, BERT-large m=4096, vs SGEMM", layout, v, ">= 2.86x",
             None if g is None else g >= 2.86)


def chains(rows):
    cs = [r for r in rows if r.get("op") == "chain"]
    if not cs:
        print("\n# Layer chain breakdown: not measured (tilesparse-bench --chain)")
        return
    latest = {}
    for r in cs:
        latest[(r["chain"], r["dtype"], param(r, "variant"))] = r
    print("\n# Layer chain breakdown (whole chain, median of runs, L2 flushed before each chain)")
    print(f"{'chain':<34} {'dtype':<5} {'variant':<26} {'us':>9} {'vs cuBLAS same layout':>22} {'vs row-major cuBLAS':>20}")
    for (chain, dtype, variant), r in sorted(latest.items()):
        rm = r.get("row_major_cublas_us")
        vs_rm = f"{rm / r['median_us']:.2f}x" if rm else "not measured"
        print(f"{chain:<34} {dtype:<5} {variant:<26} {r['median_us']:>9.1f} {r['speedup']:>21.2f}x {vs_rm:>20}")


def plot(t, args):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    pat, dt, ep = args.pattern, args.dtype, args.epilogue
    gs = sorted({k[3] for k in t.rows if k[0] == pat and k[1] == dt and k[3] is not None})
    if not gs:
        print(f"no {pat} {dt} rows to plot", file=sys.stderr)
        return
    present = [grp for grp in GROUPS if any(group_of(r["_shape_id"], r["_suite"]) == grp for r in t.rows.values())]
    fig, axes = plt.subplots(len(gs), len(present), figsize=(4.2 * len(present), 3.3 * len(gs)), squeeze=False,
                             sharey=True)
    styles = {"row_major": "-", "transposed": "--"}
    for i, g in enumerate(gs):
        for j, grp in enumerate(present):
            ax = axes[i][j]
            sids = sorted({r["_shape_id"] for r in t.rows.values() if group_of(r["_shape_id"], r["_suite"]) == grp})
            colors = {sid: plt.cm.tab10(n % 10) for n, sid in enumerate(sids)}
            for sid in sids:
                labelled = False
                for layout in LAYOUTS:
                    pts = t.curve(pat, dt, layout, g, sid, "full", ep)
                    if pts:
                        ax.plot([100 * s for s, _ in pts], [v for _, v in pts], styles[layout], color=colors[sid],
                                marker="o", ms=2.5, lw=1, label=None if labelled else sid)
                        labelled = True
            ax.axhline(1.0, color="k", lw=0.8)
            ax.set_yscale("log")
            ax.set_title(f"{grp}, G={g}", fontsize=9)
            ax.set_xlabel("sparsity (%)", fontsize=8)
            if j == 0:
                ax.set_ylabel(f"speedup over cuBLAS {dt}", fontsize=8)
            ax.tick_params(labelsize=7)
            ax.grid(True, which="both", lw=0.3, alpha=0.5)
            if i == 0:
                ax.legend(fontsize=5, loc="upper left")
    device = next((r.get("device") for r in t.rows.values()), "")
    fig.suptitle(f"{pat} {dt} vs same-run cuBLAS in the same layout (solid: row-major, dashed: transposed), "
                 f"epilogue {ep}, {device}", fontsize=9)
    fig.tight_layout()
    fig.savefig(args.out, dpi=120)
    print(f"wrote {args.out}")


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("jsonl", nargs="?", default="bench/results/tw.jsonl")
    ap.add_argument("--out", default="bench/results/tw_speedup.png")
    ap.add_argument("--shapes", default="bench/shapes.csv")
    ap.add_argument("--dtype", default="f16")
    ap.add_argument("--pattern", default="tw", choices=["tw", "tew"])
    ap.add_argument("--epilogue", default="none")
    ap.add_argument("--impl", help="16-bit TW/TEW rows of this kernel only (params.impl), e.g. cuda.tw.wgmma")
    ap.add_argument("--no-plot", action="store_true", help="print the tables only")
    args = ap.parse_args()
    if not os.path.exists(args.jsonl):
        print(f"{args.jsonl}: no such file; every target: not measured")
        return 0
    rows = load(args.jsonl)
    t = Table(rows, shape_ids(args.shapes), args.impl)
    targets(t, args)
    chains(rows)
    if not args.no_plot:
        plot(t, args)
    return 0


if __name__ == "__main__":
    sys.exit(main())
