"""Benchmark the electricity-anomaly scores against the planted illegal sites.

Regenerates the synthetic meter table, the expansion list and the truth in
memory (``make_sample_layers.power_sample``, the same seed as the committed
``layers/power_meters.xlsx``), reads it (:mod:`riskmap.load.sources.meters`) and
runs :func:`riskmap.models.power.check_power` on it
as the sample project would, and compares in the same run the top-100 list of
the method with two naive lists: the biggest month-over-month rise in kWh, and
the biggest month-over-month ratio.

Usage::

    python scripts/bench_power.py [--top 100] [--seed 20170106] [--json]
"""

from __future__ import annotations

import argparse
import filecmp
import json
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "scripts"))

import make_sample_layers as sample  # noqa: E402

from riskmap.load.project import AreaSpec, Source  # noqa: E402
from riskmap.load.sources.meters import read_expansions, read_power_table  # noqa: E402
from riskmap.models import power  # noqa: E402
from riskmap.pipeline.project import load_project  # noqa: E402


def rank_metrics(order_ids, truth_ids: set, k: int) -> dict:
    """Precision and recall of the first ``k`` ids."""
    top = list(order_ids[:k])
    hits = sum(u in truth_ids for u in top)
    return {"k": k, "hits": hits, "precision": round(hits / k, 3),
            "recall": round(hits / len(truth_ids), 3)}


def onset_hit(onset, truth: str) -> bool:
    """True when the true onset month lies in the reported month or range."""
    if not isinstance(onset, str) or not truth:
        return False
    a, _, b = onset.partition("～")
    return a <= truth <= (b or a)


def county_b(top: int, seed: int | None = None) -> dict:
    """County B (tests/countyb): its delivered meter table, 24 planted users and 14 decoys."""
    sys.path.insert(0, str(ROOT / "tests"))
    from countyb.make import DEFAULT_SEED, build_world, make_county_b
    from countyb.power import make_meters

    seed = DEFAULT_SEED if seed is None else seed
    with tempfile.TemporaryDirectory() as tmp:
        t0 = time.perf_counter()
        proj = load_project(make_county_b(Path(tmp) / "b", seed))
        t_gen = time.perf_counter() - t0
        t1 = time.perf_counter()
        result = power.check_power(proj)
        t_all = time.perf_counter() - t1
    w = build_world(seed)
    _, truth = make_meters(w, w["rng"]["meters"])
    ids, decoys = set(truth["illegal"]), set(truth["decoy"])
    method = result.users["user_id"].to_numpy()
    nj = power.naive_jump(result.table)
    naive = result.table.users["user_id"].to_numpy()[np.argsort(-nj, kind="stable")]
    top_users = result.users.head(top)
    heated = top_users["village"].isin(truth["heated"]) & ~top_users["user_id"].isin(ids)
    return {
        "county": "b", "seed": seed, "users": len(result.users),
        "months": len(result.table.months), "planted_sites": len(ids), "decoys": len(decoys),
        "method": rank_metrics(method, ids, top),
        "naive_mom_kwh_rise": rank_metrics(naive, ids, top),
        "method_at_k_planted": rank_metrics(method, ids, len(ids)),
        "naive_at_k_planted": rank_metrics(naive, ids, len(ids)),
        "decoys_in_top": {"method": int(top_users["user_id"].isin(decoys).sum()),
                          "naive": int(np.isin(naive[:top], list(decoys)).sum())},
        "decoys_in_top_k_planted": {"method": int(np.isin(method[:len(ids)], list(decoys)).sum()),
                                    "naive": int(np.isin(naive[:len(ids)], list(decoys)).sum())},
        "heated_village_users_in_top": int(heated.sum()),
        "top10_reasons": top_users["reasons"].head(10).tolist(),
        "seconds": {"generate": round(t_gen, 2), "check_power_total": round(t_all, 2)},
    }


def print_b(out: dict) -> None:
    print(f"county B meter table: {out['users']} users x {out['months']} months, "
          f"{out['planted_sites']} planted illegal users, {out['decoys']} decoys")
    print(f"{'list':46s} {'top':>4s} {'hits':>5s} {'precision':>9s} {'recall':>7s}")
    for name, key in (("method", "method"), ("naive: biggest month-over-month kWh rise",
                                             "naive_mom_kwh_rise")):
        r = out[key]
        print(f"{name:46s} {r['k']:4d} {r['hits']:5d} {r['precision']:9.2f} {r['recall']:7.2f}")
    a, b = out["method_at_k_planted"], out["naive_at_k_planted"]
    print(f"at k = {out['planted_sites']}: method precision {a['precision']:.2f}, naive "
          f"{b['precision']:.2f}; decoys in the top {out['planted_sites']}: method "
          f"{out['decoys_in_top_k_planted']['method']}, naive "
          f"{out['decoys_in_top_k_planted']['naive']} (top {out['method']['k']}: "
          f"{out['decoys_in_top']['method']} / {out['decoys_in_top']['naive']}); heated-village "
          f"users in the method's top list: {out['heated_village_users_in_top']}")
    print(f"times (s): {out['seconds']}")


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--top", type=int, default=100)
    ap.add_argument("--seed", type=int, default=sample.DEFAULT_SEED)
    ap.add_argument("--county", choices=("sample", "b", "both"), default="both")
    ap.add_argument("--json", action="store_true", help="print one JSON object")
    args = ap.parse_args(argv)
    outs = []
    if args.county in ("sample", "both"):
        outs.append(sample_county(args))
    if args.county in ("b", "both"):
        outs.append(county_b(args.top))
    if args.json:
        print(json.dumps(outs[0] if len(outs) == 1 else {"counties": outs},
                         ensure_ascii=False, default=str))
        return 0
    for o in outs:
        (print_b if o["county"] == "b" else print_sample)(o)
        print()
    return 0


def sample_county(args) -> dict:
    """The sample district's synthetic meter table (regenerated in memory)."""

    t0 = time.perf_counter()
    meters, expansions, truth = sample.power_sample(args.seed)
    t_gen = time.perf_counter() - t0
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        xlsx = tmp / "power_meters.xlsx"
        sample.write_power_meters(meters, xlsx)
        expansions.to_csv(tmp / "power_expansions.csv", index=False, encoding="utf-8-sig",
                          lineterminator="\n")
        committed = ROOT / "layers" / "power_meters.xlsx"
        same = committed.is_file() and filecmp.cmp(xlsx, committed, shallow=False)
        proj = load_project(ROOT / "layers" / "project.yaml")
        proj = replace(
            proj,
            power={"source": Source(path=xlsx, crs="GCJ02"),
                   "expansions": Source(path=tmp / "power_expansions.csv")},
            village_points=proj.village_points or AreaSpec(
                Source(path=ROOT / "layers" / "sample.gpkg", layer="village_points"), "name"))
        t1 = time.perf_counter()
        cfg = power.power_config(proj)
        table = read_power_table(cfg.source)
        t_read = time.perf_counter() - t1
        exp = read_expansions(cfg.expansions, table.months)
        t2 = time.perf_counter()
        power.score_users(table, exp)
        t_score = time.perf_counter() - t2
        t3 = time.perf_counter()
        result = power.check_power(proj)
        t_all = time.perf_counter() - t3
        layer = power.anomaly_layer(proj, result=result)

    ill = truth[truth["role"] == "illegal"]
    ids = set(ill["户号"])
    method = result.users["user_id"].to_numpy()
    nj = power.naive_jump(result.table)
    naive_abs = result.table.users["user_id"].to_numpy()[np.argsort(-nj, kind="stable")]
    with np.errstate(divide="ignore", invalid="ignore"):
        k = result.table.kwh
        ratio = np.nan_to_num(np.nanmax((k[:, 1:] + 1) / (k[:, :-1] + 1), axis=1), nan=-1)
    naive_ratio = result.table.users["user_id"].to_numpy()[np.argsort(-ratio, kind="stable")]
    roles = truth.set_index("户号")["role"]
    top = result.users.head(args.top)
    flagged = result.flagged
    merged = result.users.merge(truth, left_on="user_id", right_on="户号")
    planted = merged[merged["role"] == "illegal"]
    found = planted[planted["score"] >= cfg.min_score]
    out = {
        "seed": args.seed,
        "users": len(result.users), "months": len(result.table.months),
        "planted_sites": len(ids),
        "truth_roles": truth["role"].value_counts().to_dict(),
        "regenerated_equals_committed_xlsx": bool(same),
        "method": rank_metrics(method, ids, args.top),
        "naive_mom_kwh_rise": rank_metrics(naive_abs, ids, args.top),
        "naive_mom_ratio": rank_metrics(naive_ratio, ids, args.top),
        "method_at_k_planted": rank_metrics(method, ids, len(ids)),
        "naive_at_k_planted": rank_metrics(naive_abs, ids, len(ids)),
        "flagged": {"min_score": cfg.min_score, "users": len(flagged),
                    "planted": int(flagged["user_id"].isin(ids).sum()),
                    "precision": round(float(flagged["user_id"].isin(ids).mean()), 3),
                    "recall": round(float(flagged["user_id"].isin(ids).sum() / len(ids)), 3),
                    "by_role": roles.reindex(flagged["user_id"]).value_counts().to_dict()},
        "top_by_role": {
            "method": roles.reindex(top["user_id"]).value_counts().to_dict(),
            "naive_mom_kwh_rise": roles.reindex(naive_abs[:args.top]).value_counts().to_dict(),
        },
        "onset_in_reported_range": {
            "hits": int(sum(onset_hit(a, b) for a, b in zip(found["onset_x"], found["onset_y"],
                                                            strict=True)
                            if b != sample.POWER_MONTHS[0])),
            "of": int((found["onset_y"] != sample.POWER_MONTHS[0]).sum()),
        },
        "placed_by_flagged": flagged["placed_by"].value_counts().to_dict(),
        "factor_points": len(layer),
        "seconds": {"generate": round(t_gen, 2), "read_xlsx": round(t_read, 2),
                    "score": round(t_score, 3), "check_power_total": round(t_all, 2)},
    }
    out["county"] = "sample"
    return out


def print_sample(out: dict) -> None:
    ids = range(out["planted_sites"])
    print(f"synthetic meter table: {out['users']} users x {out['months']} months, "
          f"{len(ids)} planted illegal sites (seed {out['seed']}; "
          f"same as layers/power_meters.xlsx: {out['regenerated_equals_committed_xlsx']})")
    rows = [("method (robust level + jump + persistence)", out["method"]),
            ("naive: biggest month-over-month kWh rise", out["naive_mom_kwh_rise"]),
            ("naive: biggest month-over-month ratio", out["naive_mom_ratio"])]
    print(f"{'list':46s} {'top':>4s} {'hits':>5s} {'precision':>9s} {'recall':>7s}")
    for name, r in rows:
        print(f"{name:46s} {r['k']:4d} {r['hits']:5d} {r['precision']:9.2f} {r['recall']:7.2f}")
    a, b = out["method_at_k_planted"], out["naive_at_k_planted"]
    print(f"at k = {len(ids)} (number planted): method precision {a['precision']:.2f}, "
          f"naive {b['precision']:.2f}")
    f = out["flagged"]
    print(f"flagged (score >= {f['min_score']:g}): {f['users']} users, {f['planted']} planted "
          f"(precision {f['precision']:.2f}, recall {f['recall']:.2f}); by role {f['by_role']}")
    print(f"top {out['method']['k']} by role: method {out['top_by_role']['method']}")
    print(f"                naive  {out['top_by_role']['naive_mom_kwh_rise']}")
    o = out["onset_in_reported_range"]
    print(f"onset: true month inside the reported month/range for {o['hits']} of {o['of']} "
          "flagged planted sites that started inside the table")
    print(f"times (s): {out['seconds']}")


if __name__ == "__main__":
    raise SystemExit(main())
