"""Multi-agent vs single-agent RL on the DSE suite's largest space (Krishnan et al.'s claim
that splitting the parameters among agents helps on large design spaces).

    python python/bench/marl_vs_rl.py --out results/dse_bench

Both are archsim's REINFORCE agents on configs/search/suite/hetero3_two_nets.yaml (1.8e11
designs): `rl`, one policy over all 17 parameters, and `marl`, one agent per sub-accelerator
(its rows, cols, dataflow and buffers) plus one for the network-to-sub-accelerator assignment,
all learning from the team reward. Equal budgets, 10 seeds; regret against the reference optimum
of results/dse_bench/suite_reference.csv. Writes marl_vs_rl.csv and marl_vs_rl.md.
"""

from __future__ import annotations

import argparse
import csv
import json
import statistics
from pathlib import Path

import archsim

ROOT = Path(__file__).resolve().parents[2]
PROBLEM = ROOT / "configs" / "search" / "suite" / "hetero3_two_nets.yaml"


def groups(paths: list[str]) -> list[list[str]]:
    subs = sorted({p.split(".")[1] for p in paths if p.startswith("accelerator.subs[")})
    out = [[p for p in paths if p.split(".")[1] == s] for s in subs]
    out.append([p for p in paths if p.startswith("accelerator.assignment")])
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", default="results/dse_bench")
    ap.add_argument("--budgets", default="1000,10000")
    ap.add_argument("--seeds", type=int, default=10)
    args = ap.parse_args()
    out = Path(args.out)
    ref_rows = list(csv.DictReader(open(out / "suite_reference.csv")))
    ref = min(float(r["best_latency_s"]) for r in ref_rows if r["problem"] == PROBLEM.stem and r["best_latency_s"])
    paths = archsim.evaluate_batch(PROBLEM, [])["paths"]
    agents = {
        "rl (one policy)": "{kind: rl}",
        "marl (one agent per sub-accelerator + assignment)": "{kind: marl, groups: " + json.dumps(groups(paths)) + "}",
    }
    rows = []
    for budget in [int(b) for b in args.budgets.split(",")]:
        for name, spec in agents.items():
            for seed in range(args.seeds):
                r = archsim.search(PROBLEM, overrides=[f"search.agent={spec}", f"search.budget={budget}", f"search.seed={seed}"])
                best, first = float("inf"), None
                for h in r["history"]:
                    if h["feasible"]:
                        best = min(best, h["metrics"]["latency_s"])
                        if first is None and best <= ref * 1.01:
                            first = h["eval"]
                rows.append({"budget": budget, "agent": name, "seed": seed, "best_latency_s": best,
                             "regret": best / ref - 1, "evals_to_1pct": first if first is not None else ""})
    with open(out / "marl_vs_rl.csv", "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=list(rows[0]))
        w.writeheader()
        w.writerows(rows)
    md = ["# Multi-agent vs single-agent RL", "",
          f"`{PROBLEM.relative_to(ROOT)}` (1.8e11 designs), {args.seeds} seeds per agent and budget; regret is the best "
          f"latency over the reference optimum ({ref * 1e6:.2f} us, suite_reference.csv) minus one.", "",
          "| budget | agent | median regret | best / worst regret | runs within 1% | median evaluations to 1% |", "|---|---|---|---|---|---|"]
    for budget in sorted({r["budget"] for r in rows}):
        for name in agents:
            rs = [r for r in rows if r["budget"] == budget and r["agent"] == name]
            reg = sorted(r["regret"] for r in rs)
            hit = sorted(r["evals_to_1pct"] for r in rs if r["evals_to_1pct"] != "")
            md.append(f"| {budget} | {name} | {statistics.median(reg) * 100:.2f}% | {reg[0] * 100:.2f}% / {reg[-1] * 100:.2f}% "
                      f"| {len(hit)}/{len(rs)} | {statistics.median(hit) if hit else '-'} |")
    names = list(agents)
    same = [r["best_latency_s"] for r in rows if r["agent"] == names[0]] == [
        r["best_latency_s"] for r in rows if r["agent"] == names[1]
    ]
    md += ["", (
        "The claim is not reproduced: both agents find the same designs in every run. archsim's REINFORCE policies are stateless tables of "
        "independent per-parameter logits updated from one shared, batch-standardized reward, so one policy over "
        "all parameters already factorizes exactly as the agents split it: the split changes no update. The "
        "MARL-DSE gains come from what this setup lacks (neural policies conditioned on an observation, "
        "per-agent credit) and are not measurable here."
        if same else
        "The two agents differ: the medians above say which holds up."
    )]
    (out / "marl_vs_rl.md").write_text("\n".join(md) + "\n")
    print("\n".join(md))


if __name__ == "__main__":
    main()
