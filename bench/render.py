#!/usr/bin/env python
"""Regenerate the tables of BENCHMARKS.md from the raw figures in bench/results/*.json.

BENCHMARKS.md is written by hand; only its tables are generated. Each sits between marker comments,

    <!-- table:NAME -->
    | ... |
    <!-- /table:NAME -->

and this script replaces what is between a pair with ``TABLES[NAME]()`` (or a "not measured yet" line when
the JSON is missing). Text outside the markers is left as it is: after a new measurement, update the
figures that the prose quotes. ``--check`` exits 1 when the tables are not what the JSON gives.

Usage:
    python bench/render.py [BENCHMARKS.md] [--check]
"""

from __future__ import annotations

import argparse
import math
import re
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import common  # noqa: E402

GOAL_NOOP_S = 5.0
BLOCK = re.compile(r"(<!-- table:(?P<name>[a-z0-9_]+) -->\n)(?P<body>.*?)(<!-- /table:(?P=name) -->)", re.S)


def _f(x, nd=1):
    if x is None or (isinstance(x, float) and math.isnan(x)):
        return "n/a"
    return f"{x:,.{nd}f}"


def _table(header: list[str], align: str, rows: list[list]) -> list[str]:
    """A markdown table; ``align``: one letter per column, l (left) or r (right)."""
    def line(cells):
        return "|" + "|".join(f" {c} " if str(c) else " " for c in cells) + "|"

    return [line(header), "|" + "|".join("---:" if a == "r" else "---" for a in align) + "|",
            *(line(r) for r in rows)]


def _json(name):
    return common.load(name) or {}


# ------------------------------------------------------------------------------------------------ tables
def summary():
    main, bef, full = _json("main_job"), _json("main_job_before"), _json("full_size")
    bio, scal, ts = _json("bio_features"), _json("scaling"), _json("training_steps")
    rows = []
    if main:
        s = main["summary"]
        worst = max(s["with_data"]["wall_s"], s["without_data"]["wall_s"])
        goal = "< 300 s (met)" if worst < 300 else "< 300 s (not met)"
        rows += [["main job, small default (5 session folds, default encoders), `--cores all` (2 cores), data "
                  "generation included", f"{_f(s['with_data']['wall_s'])} s", goal],
                 ["main job, data generation excluded", f"{_f(s['without_data']['wall_s'])} s", ""]]
        if bef:
            b = bef["summary"]
            rows.append(["the single-split main job before the fixes of findings 1 and 3 below (earlier models, "
                         "one seed, a busier machine)",
                         f"{_f(b['with_data']['wall_s'])} s / {_f(b['without_data']['wall_s'])} s", ""])
        q = s.get("quality")
        if q:
            goal = f">= {q['goal_over_majority']:.2f} ({'met' if q['goal_met'] else 'not met'})"
            rows.append(["main job's fused settings over the majority class, accuracy (every run the same table: "
                         f"{'yes' if q['identical_in_every_run'] else '**no**'})",
                         "; ".join(f"{k} {v:+.3f} (accuracy {q['table'][k]['accuracy']:.3f} "
                                   f"[{q['table'][k]['accuracy_ci'][0]:.3f}, {q['table'][k]['accuracy_ci'][1]:.3f}] "
                                   f"vs {q['table'][k]['majority_accuracy']:.3f})"
                                   for k, v in q["fused_over_majority"].items()), goal])
        rows.append(["share of the main job spent outside rules (Snakemake itself)",
                     f"{_f(100 * s['without_data']['outside_share'], 0)} % "
                     f"({_f(s['without_data']['outside_rules_s'])} s)", ""])
    nf = full.get("noop")
    if nf:
        m = nf["median_s"]
        rows += [[f"no-op rerun of `results/table1.csv`, full size ({nf['jobs_in_dag']} jobs, "
                  f"{nf['segments']:,} segments)",
                  f"**{_f(m['noop'], 2)} s** (`make setup`); {_f(m['noop_plugin'], 2)} s with the SLURM "
                  "executor plugin installed, where a SLURM client has no controller to ask (section 2)",
                  f"< {GOAL_NOOP_S:.0f} s"],
                 [f"dry-run, everything up to date / planning all {nf['jobs_in_dag']} jobs (`--forceall`)",
                  f"{_f(m['dryrun'], 2)} / {_f(m['dryrun_forceall'], 2)} s; {_f(m['dryrun_plugin'], 2)} / "
                  f"{_f(m['dryrun_forceall_plugin'], 2)} s with the plugin", ""]]
    ff = full.get("features")
    if ff:
        tp = ff["throughput"]
        rows.append(["feature throughput at full size, segments per CPU-second (per job-second)",
                     "; ".join(f"{m} {_f(tp[m]['segments_per_cpu_s'], 0)} "
                               f"({_f(tp[m]['segments_per_s_per_core'], 0)})"
                               for m in ("bio", "text", "audio")), ""])
        if ff.get("cores"):
            rows.append(["feature stages, 2 cores vs 1 core, speed-up of the time jobs run",
                         "; ".join(f"{st} {_f(d.get('speedup_busy_median_of_ratios'), 2)}x"
                                   for st, d in ff["cores"].items()), ""])
    if bio:
        rows += [["bio features vs naive per-segment neurokit2",
                  f"**{_f(bio['speedup_vs_naive'], 0)}x** faster", ">= 20x"],
                 ["bio features vs bare `pandas.read_csv` of the raw files",
                  f"**{_f(bio['ours_over_parse_per_repeat_median'], 2)}x** the parse time", "<= 3x"]]
    if scal:
        fw, fc, fb = scal["fits"]["wall_s"], scal["fits"]["cpu_s"], scal["fits"]["bio_cpu_s"]
        rows.append(["scaling 2 -> 20 sessions (index + bio + text stages)",
                     f"CPU time = {_f(fc['intercept_s'])} s + {_f(fc['s_per_1000_segments'])} s per 1,000 "
                     f"segments (R² {_f(fc['r2'], 3)}); bio CPU log-log slope {_f(fb['loglog_slope'], 2)}; "
                     f"wall = {_f(fw['intercept_s'], 0)} s + {_f(fw['s_per_1000_segments'])} s per 1,000 "
                     f"segments (R² {_f(fw['r2'], 2)})", "close to linear"])
    tr = full.get("training")
    if tr:
        threads = tr.get("threads", 2)
        rows.append([f"training at full size, CPU, samples per second ({threads} thread(s) per job)",
                     "; ".join(f"{m} {_f(d['samples_per_s_epoch_median'], 0)}"
                               for m, d in tr["modalities"].items()), ""])
    if ts:
        rows.append(["training steps in isolation, samples per second: 1 thread / 2 threads / 2 threads with "
                     "`OMP_WAIT_POLICY=PASSIVE`",
                     "; ".join(f"{m} {_f(d['cpu_1']['median'], 0)} / {_f(d['cpu_2']['median'], 0)} / "
                               f"{_f(d['cpu_2_passive']['median'], 0)}"
                               for m, d in ts["models"].items()), ""])
    peak = max(((mb, rule, where) for rule, d in _memory(main, full).items() for where, (_, mb) in d.items()),
               default=None)
    if peak:
        mb, rule, where = peak
        rows.append(["largest peak RSS of any job",
                     f"{_f(mb / 1024, 2)} GiB ({rule}, {'full size' if where == 'full' else where})",
                     "a few GiB"])
    return _table(["what", "figure", "goal"], "lll", rows) if rows else None


def main_job():
    main, bef = _json("main_job"), _json("main_job_before")
    if not main:
        return None
    rows = []
    before = f"_before_ (commit {bef.get('code', {}).get('commit')}), "
    for prefix, summ in (("", main["summary"]), (before, bef.get("summary"))):
        for key, label in (("with_data", "included"), ("without_data", "excluded")):
            if summ:
                d = summ[key]
                rows.append([f"{prefix}data generation {label}", _f(d["wall_s"]), d["n_jobs"],
                             _f(d["sum_job_s"]), _f(d.get("sum_cpu_s")), _f(d["outside_rules_s"]),
                             f"{_f(100 * d['outside_share'], 0)} %", _f(d["before_first_job_s"])])
    return _table(["", "wall (s)", "jobs", "sum of job times (s)", "sum of job CPU (s)", "outside rules (s)",
                   "outside rules (share)", "before the first job starts (s)"], "lrrrrrrr", rows)


# Snakemake's benchmark sampler misses jobs that end within its first interval: they report a few MB of
# peak memory and no CPU time, which no Python process that imports pandas has (about 100 MB at least).
MIN_SAMPLED_MB = 50


def rss_cell(mb) -> str:
    return _f(mb, 0) if mb >= MIN_SAMPLED_MB else "too short to sample"


def main_rules():
    main = _json("main_job")
    if not main:
        return None
    s = main["summary"]
    rules = dict(s["without_data"]["rules"])
    if "synth_data" in s["with_data"]["rules"]:
        rules["synth_data"] = s["with_data"]["rules"]["synth_data"]
    rows = [[k, d["jobs"], _f(d["s"]), _f(d.get("cpu")) if d["max_rss"] >= MIN_SAMPLED_MB else "too short",
             _f(d["max_job_s"]), rss_cell(d["max_rss"])]
            for k, d in sorted(rules.items(), key=lambda kv: -kv[1]["s"])]
    return _table(["rule", "jobs", "total job time (s)", "CPU (s)", "longest job (s)", "peak RSS (MB)"],
                  "lrrrrr", rows)


def noop():
    nf = _json("full_size").get("noop")
    if not nf:
        return None
    labels = {"noop": "no-op rerun", "dryrun": "dry-run, all up to date",
              "dryrun_forceall": "dry-run planning every job",
              "version": "`snakemake --version` (start-up only)"}
    rows = []
    for k, lab in labels.items():
        for key, extra in ((k, ""), (k + "_plugin", " - with the SLURM executor plugin")):
            if key in nf["median_s"]:
                rows.append([f"{lab}{extra}: `{nf['commands'].get(k, '')}`", _f(nf["median_s"][key], 2),
                             ", ".join(_f(x, 2) for x in nf["times_s"][key]),
                             _f(nf["max_rss_mb"].get(key), 0)])
    return _table(["command", "median (s)", "runs (s)", "peak RSS of snakemake (MB)"], "lrlr", rows)


def features():
    ff = _json("full_size").get("features")
    if not ff:
        return None
    rows = []
    for mod in ("bio", "text", "audio"):
        t = ff["throughput"][mod]
        rows.append([mod, t["jobs"], _f(t["sum_job_s"]), _f(t.get("sum_cpu_s")),
                     _f(t["segments_per_s_per_core"], 0), _f(t.get("segments_per_cpu_s"), 0),
                     _f(t["stage_wall_s"]), _f(t["segments_per_s_stage"], 0)])
    return _table(["modality", "jobs", "sum of job times (s)", "sum of job CPU (s)",
                   "segments per job-second", "segments per CPU-second", "stage wall, 2 cores (s)",
                   "segments per second of stage wall"],
                  "lrrrrrrr", rows)


def cores():
    c = (_json("full_size").get("features") or {}).get("cores")
    if not c:
        return None
    rows = [[st, _f(d["median_cores1_s"]), _f(d["median_cores2_s"]),
             f"{_f(d['speedup_median_of_ratios'], 2)}x", _f(d.get("median_busy1_s")),
             _f(d.get("median_busy2_s")),
             f"{_f(d.get('speedup_busy_median_of_ratios'), 2)}x", _f(d["segments_per_s_cores1"], 0),
             _f(d["segments_per_s_cores2"], 0),
             f"{_f(common.median(d.get('cpu1_s', [])))} / {_f(common.median(d.get('cpu2_s', [])))}"]
            for st, d in c.items()]
    return _table(["stage", "1 core: wall (s)", "2 cores: wall (s)", "speed-up, wall",
                   "1 core: jobs running (s)", "2 cores: jobs running (s)", "speed-up, jobs running",
                   "segments/s, 1 core", "segments/s, 2 cores", "CPU s, 1 / 2 cores"], "lrrrrrrrrr", rows)


def bio_features():
    b = _json("bio_features")
    if not b:
        return None
    return _table(["approach", "seconds (median)", "ms per segment"], "lrr", [
        ["(a) ours: read each file once, R peaks once per recording, vectorised per-segment features",
         _f(b["ours_s"], 2), _f(1000 * b["ours_s"] / b["segments"], 2)],
        ["(b) naive: per segment, re-read the file with pandas, `neurokit2.ecg_process` + `hrv_time` on the "
         f"slice, EDA periodogram, TEMP line fit (timed on {b['naive_segments_timed']} segments, "
         "extrapolated)",
         _f(b["naive_s_extrapolated"]), _f(1000 * b["naive_s_per_segment"])],
        ["(c) bare `pandas.read_csv` of the same files", _f(b["parse_s"], 2), ""]])


def scaling():
    scal = _json("scaling")
    if not scal:
        return None
    rows = [[r["sessions"], f"{r['segments']:,}", _f(r["wall_s"]), _f(r["bio_s"]), _f(r.get("bio_cpu_s")),
             _f(r["text_s"]), _f(r.get("text_cpu_s")), _f(r["index_s"]), _f(r["outside_rules_s"]),
             _f(1000 * r["wall_s"] / r["segments"]),
             _f(1000 * r["cpu_s"] / r["segments"]) if r.get("cpu_s") else "n/a"] for r in scal["table"]]
    return _table(["sessions", "segments", "total wall (s)", "bio jobs (s)", "bio CPU (s)", "text jobs (s)",
                   "text CPU (s)", "index (s)", "outside rules (s)", "wall per 1,000 segments (s)",
                   "CPU per 1,000 segments (s)"], "rrrrrrrrrrr", rows)


def scaling_fits():
    scal = _json("scaling")
    if not scal:
        return None
    labels = {"wall_s": "total wall", "cpu_s": "total CPU of the jobs", "bio_s": "bio job time",
              "bio_cpu_s": "bio CPU", "text_s": "text job time", "text_cpu_s": "text CPU", "index_s": "index"}
    rows = [[lab, _f(f["intercept_s"]), _f(f["s_per_1000_segments"], 2), _f(f["loglog_slope"], 2),
             _f(f["r2"], 3)] for k, lab in labels.items() if (f := scal["fits"].get(k))]
    return _table(["series", "a: fixed (s)", "b: s per 1,000 segments", "log-log slope", "R²"], "lrrrr", rows)


def training():
    full = _json("full_size")
    tr = full.get("training")
    if not tr:
        return None
    gpu = (full.get("machine") or {}).get("gpu")
    dev = f"CPU, {tr.get('threads', 2)} thread(s)" if gpu in (None, "none") else "auto"
    rows = [[m, dev, f"{d['n_train']:,}", _f(d["samples_per_s_epoch_median"], 0), _f(d["job_s_median"]),
             _f(d["max_rss_mb"], 0)] for m, d in tr["modalities"].items()]
    return _table(["model", "device", "training rows", "samples/s (median)", "whole job (s, median)",
                   "peak RSS (MB)"], "llrrrr", rows)


def training_steps():
    ts = _json("training_steps")
    if not ts:
        return None
    gpu = ["GPU"] if ts.get("cuda") else []
    rows = [[m, ts["batch"][m], _f(d["cpu_1"]["median"], 0), _f(d["cpu_2"]["median"], 0),
             _f(d["cpu_2_passive"]["median"], 0), f"{_f(d['ratio_2_over_1_threads'], 2)}x",
             f"{_f(d['ratio_2passive_over_2'])}x", *([_f(d["cuda"]["median"], 0)] if gpu else [])]
            for m, d in ts["models"].items()]
    return _table(["model", "batch", "samples/s: 1 thread", "2 threads",
                   "2 threads, `OMP_WAIT_POLICY=PASSIVE`", "2 vs 1 threads", "passive vs default, 2 threads",
                   *gpu], "lrrrrrr" + "r" * len(gpu), rows)


def train_threads():
    tt = _json("train_threads")
    if not tt:
        return None
    labels = {"threads2": "2 threads per job (before)", "threads1": "1 thread per job (as configured now)"}
    rows = [[labels.get(k, k), f"`{cmd}`", _f(tt["median_jobs_running_s"][k]),
             *(_f(tt["median_job_s"][k].get(m)) for m in ("bio", "audio", "text"))]
            for k, cmd in tt["commands"].items()]
    return _table(["variant", "command", "training jobs running (s)", "bio job (s)", "audio job (s)",
                   "text job (s)"], "llrrrr", rows)


def _memory(main, full) -> dict:
    """rule -> {"small": (jobs, MB), "full": (jobs, MB)}: the largest job's peak RSS."""
    out: dict = {}

    def add(rules, where):
        for r, d in rules.items():
            mb = d.get("max_rss")
            if mb is not None and mb == mb and (where not in out.get(r, {}) or mb > out[r][where][1]):
                out.setdefault(r, {})[where] = (d.get("jobs"), mb)

    if main:
        add(main["summary"]["without_data"]["rules"], "small")
        add({"synth_data": main["summary"]["with_data"]["rules"].get("synth_data", {})}, "small")
    for key in ("features", "table"):
        add((full.get(key) or {}).get("rules", {}), "full")
    if full.get("training"):
        mods = full["training"]["modalities"].values()
        add({"train": {"max_rss": max(d["max_rss_mb"] or 0 for d in mods), "jobs": 3}}, "full")
    return out


def memory():
    mem = _memory(_json("main_job"), _json("full_size"))
    if not mem:
        return None

    def cell(x):
        return "n/a" if x is None else rss_cell(x[1])

    order = sorted(mem.items(), key=lambda kv: -max(v[1] for v in kv[1].values()))
    rows = [[rule, " / ".join(str(d[w][0]) if w in d else "-" for w in ("small", "full")),
             cell(d.get("small")), cell(d.get("full"))] for rule, d in order]
    return _table(["rule", "jobs (small / full)", "peak RSS, small (MB)", "peak RSS, full size (MB)"], "lrrr",
                  rows)


def table1():
    t1 = _json("fusion_methods").get("table1")
    if not t1:
        return None
    rows = [[r["setting"], f"{_f(r['accuracy'], 3)} ± {_f(r['accuracy_std'], 3)}",
             f"{_f(r['f1_macro'], 3)} ± {_f(r['f1_macro_std'], 3)}", _f(r["oracle_accuracy"], 3),
             f"{_f(100 * r['accuracy'] / r['oracle_accuracy'], 0)} %"] for r in t1]
    return _table(["setting", "accuracy (± std)", "macro F1 (± std)", "oracle accuracy", "% of oracle"],
                  "lrrrr", rows)


def fusion_methods():
    fm = _json("fusion_methods")
    if not fm:
        return None
    keys = ["accuracy", "f1_macro", "uar"]
    header = ["setting", "method", "calibrated", "accuracy", "macro F1", "UAR"]
    if any("val_f1_macro" in r for r in fm["rows"]):  # validation metrics beside the test ones
        keys += ["val_accuracy", "val_f1_macro", "val_uar"]
        header = [*header[:3], "test accuracy", "test macro F1", "test UAR", "val accuracy", "val macro F1",
                  "val UAR"]
    rows = [[r["setting"], r["method"], "yes" if r["calibrate"] else "no", *(_f(r.get(k), 3) for k in keys)]
            for r in fm["rows"] if "+" in r["setting"]]
    return _table(header, "lll" + "r" * len(keys), rows)


def bio_signals():
    ff = _json("full_size").get("features") or {}
    ps, ic = ff.get("per_signal"), ff.get("import_cost", {})
    if not ps:
        return None
    rows = [[sig, d["jobs"], _f(d["s"]), _f(d["cpu"]), _f(d["cpu"] / d["jobs"], 2),
             _f(ic.get(sig, {}).get("cpu_s"), 2)] for sig, d in ps.items()]
    return _table(["signal", "jobs", "job time (s)", "CPU (s)", "CPU per job (s)",
                   "start-up + imports per job, CPU (s)"], "lrrrrr", rows)


TABLES = {f.__name__: f for f in (summary, main_job, main_rules, noop, features, cores, bio_features, scaling,
                                  scaling_fits, training, training_steps, train_threads, memory, table1,
                                  fusion_methods, bio_signals)}
# the run_all.py sections that measure each table
SECTIONS = {"summary": "main", "main_job": "main", "main_rules": "main", "noop": "noop",
            "features": "features", "cores": "features", "bio_features": "bio", "scaling": "scaling",
            "scaling_fits": "scaling",
            "training": "training", "training_steps": "training", "train_threads": "training",
            "memory": "features,training,main", "table1": "main", "fusion_methods": "main",
            "bio_signals": "features"}


def render(text: str) -> str:
    """``text`` with every marked table regenerated."""
    unknown = sorted({m["name"] for m in BLOCK.finditer(text)} - set(TABLES))
    if unknown:
        raise SystemExit(f"BENCHMARKS.md marks table(s) that render.py does not know: {', '.join(unknown)}")

    def fill(m):
        name = m["name"]
        lines = TABLES[name]() or [f"_Not measured yet: `python bench/run_all.py --only {SECTIONS[name]}`._"]
        return m.group(1) + "\n".join(lines) + "\n" + m.group(4)

    return BLOCK.sub(fill, text)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("path", nargs="?", type=Path, default=common.ROOT / "BENCHMARKS.md")
    ap.add_argument("--check", action="store_true", help="exit 1 if the tables are not what the JSON gives")
    args = ap.parse_args(argv)
    old = args.path.read_text()
    new = render(old)
    if args.check:
        if new != old:
            print(f"{args.path}: tables differ from bench/results/*.json; run python bench/render.py")
        return int(new != old)
    if new != old:
        args.path.write_text(new)
    print(f"{args.path}: {len(BLOCK.findall(new))} tables, {'updated' if new != old else 'unchanged'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
