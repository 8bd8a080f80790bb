"""BENCHMARKS.md from the raw figures in bench/results/*.json (see bench/run_all.py)."""

from __future__ import annotations

import math

import common

GOAL_NOOP_S = 5.0


def _f(x, nd=1, unit=""):
    if x is None or (isinstance(x, float) and math.isnan(x)):
        return "n/a"
    return f"{x:,.{nd}f}{unit}"


def _load(xs):
    return ", ".join(f"{x:.1f}" for x in xs) if xs else "n/a"


def _missing(section, flag):
    return [f"_Not measured yet: `python bench/run_all.py --only {flag}`._", ""]


def render() -> str:
    main = common.load("main_job")
    bef = common.load("main_job_before")  # the main job before the fixes of the findings
    full = common.load("full_size") or {}
    bio = common.load("bio_features")
    scal = common.load("scaling")
    sess = common.load("sessions") or {"runs": []}
    mach = (full.get("machine") or (main or {}).get("machine") or (scal or {}).get("machine")
            or common.machine())

    L = ["# Benchmarks", "",
         "How long the workflow takes, measured with the scripts in `bench/` (rerun everything with `make bench`, "
         "or a part with `python bench/run_all.py --only main,noop,features,training,bio,scaling,memory "
         "--repeat N`). Each figure below names the command that produced it; the commands run inside a copy "
         "of the workflow under `bench/_work/` (git-ignored), so the repository's own `results/` is never "
         "touched. Figures are **medians over repeated runs**. The machine was at times shared with other work "
         "(load averages are given per section), so wherever two things are "
         "compared the ratio is measured within the same run, and CPU seconds (less sensitive to "
         "contention than wall time) are given beside wall seconds. Raw figures: `bench/results/*.json`.",
         ""]

    # ------------------------------------------------------------------------------------------ summary
    L += ["## Summary", "", "| what | figure | goal |", "|---|---|---|"]
    if main:
        s = main["summary"]
        L.append(f"| main job, small default, `--cores all` (2 cores), data generation included | "
                 f"{_f(s['with_data']['wall_s'])} s | |")
        L.append(f"| main job, data generation excluded | {_f(s['without_data']['wall_s'])} s | |")
        if bef:
            L.append(f"| the same, before the fixes of findings 1 and 3 below (earlier models, one seed, a busier machine) | "
                     f"{_f(bef['summary']['with_data']['wall_s'])} s / "
                     f"{_f(bef['summary']['without_data']['wall_s'])} s | |")
        L.append(f"| share of the main job spent outside rules (Snakemake itself) | "
                 f"{_f(100 * s['without_data']['outside_share'], 0)} % "
                 f"({_f(s['without_data']['outside_rules_s'])} s) | |")
    nf = full.get("noop")
    if nf:
        m = nf["median_s"]
        L.append(f"| no-op rerun of `results/table1.csv`, full size ({nf['jobs_in_dag']} jobs, "
                 f"{nf['segments']:,} segments) | **{_f(m['noop'], 2)} s** (`make setup`); "
                 f"{_f(m['noop_plugin'], 2)} s with the SLURM executor plugin installed, where a SLURM client "
                 f"has no controller to ask (section 2) | < {GOAL_NOOP_S:.0f} s |")
        L.append(f"| dry-run, everything up to date / planning all {nf['jobs_in_dag']} jobs (`--forceall`) | "
                 f"{_f(m['dryrun'], 2)} / {_f(m['dryrun_forceall'], 2)} s; "
                 f"{_f(m['dryrun_plugin'], 2)} / {_f(m['dryrun_forceall_plugin'], 2)} s with the plugin | |")
    ff = full.get("features")
    if ff:
        tp = ff["throughput"]
        L.append("| feature throughput at full size, segments per CPU-second (per job-second) | "
                 + "; ".join(f"{m} {_f(tp[m]['segments_per_cpu_s'], 0)} ({_f(tp[m]['segments_per_s_per_core'], 0)})"
                             for m in ("bio", "text", "audio")) + " | |")
    cores = (ff or {}).get("cores") or {}
    if cores:
        L.append("| feature stages, 2 cores vs 1 core, speed-up of the time jobs run | "
                 + "; ".join(f"{st} {_f(d.get('speedup_busy_median_of_ratios'), 2)}x" for st, d in cores.items())
                 + " | |")
    if bio:
        L.append(f"| bio features vs naive per-segment neurokit2 | **{_f(bio['speedup_vs_naive'], 0)}x** faster | >= 20x |")
        L.append(f"| bio features vs bare `pandas.read_csv` of the raw files | "
                 f"**{_f(bio['ours_over_parse_per_repeat_median'], 2)}x** the parse time | <= 3x |")
    if scal:
        fw, fc = scal["fits"]["wall_s"], scal["fits"].get("cpu_s")
        fb = scal["fits"].get("bio_cpu_s")
        L.append(f"| scaling 2 -> 20 sessions (index + bio + text stages) | CPU time = "
                 f"{_f(fc['intercept_s'], 1)} s + {_f(fc['s_per_1000_segments'], 1)} s per 1,000 segments "
                 f"(R² {_f(fc['r2'], 3)}); bio CPU log-log slope {_f(fb['loglog_slope'], 2)}; wall = "
                 f"{_f(fw['intercept_s'], 0)} s + {_f(fw['s_per_1000_segments'], 1)} s per 1,000 segments "
                 f"(R² {_f(fw['r2'], 2)}) | close to linear |" if fc and fb else
                 f"| scaling 2 -> 20 sessions: log-log slope {_f(fw['loglog_slope'], 2)} | | close to linear |")
    tr = full.get("training")
    if tr:
        L.append(f"| training at full size, CPU, samples per second ({tr.get('threads', 2)} thread(s) per job) | "
                 + "; ".join(f"{m} {_f(d['samples_per_s_epoch_median'], 0)}" for m, d in tr["modalities"].items())
                 + " | |")
    ts_ = common.load("training_steps")
    if ts_ and "cpu_2_passive" in next(iter(ts_["models"].values())):
        L.append("| training steps in isolation, samples per second: 1 thread / 2 threads / 2 threads with "
                 "`OMP_WAIT_POLICY=PASSIVE` | "
                 + "; ".join(f"{m} {_f(d['cpu_1']['median'], 0)} / {_f(d['cpu_2']['median'], 0)} / "
                             f"{_f(d['cpu_2_passive']['median'], 0)}" for m, d in ts_["models"].items()) + " | |")
    peak = _peak_memory(main, full)
    if peak:
        rule, mb, where = peak
        L.append(f"| largest peak RSS of any job | {_f(mb / 1024, 2)} GiB ({rule}, {where}) | a few GiB |")
    L.append("")

    # ------------------------------------------------------------------------------------------ machine
    v = mach.get("versions", {})
    L += ["## Machine", "",
          f"- CPU: {mach.get('cpu_model') or 'n/a'}, {mach.get('cores')} cores; memory {mach.get('memory_gib')} GiB; "
          f"{mach.get('os')}",
          f"- GPU: {mach.get('gpu')}" + (" (no GPU in this environment: every figure is CPU-only)"
                                          if mach.get("gpu") in (None, "none") else ""),
          "- Versions: " + ", ".join(f"{k} {val}" for k, val in v.items()),
          ]
    git = mach.get("git") or {}
    if git:
        L.append(f"- Code measured: commit {git.get('commit')}"
                 + (f" plus {git['modified_files']} uncommitted modified file(s) outside `bench/`"
                    if git.get("modified_files") else ""))
    if sess["runs"]:
        L.append("- Benchmark sessions (`bench/run_all.py`; load average 1, 5, 15 min at start and end):")
        for r in sess["runs"][-6:]:
            L.append(f"  - {r.get('started')} to {r.get('finished')} ({_f((r.get('wall_s') or 0) / 60, 0)} min): "
                     f"{', '.join(r.get('sections', []))}; load {_load(r.get('loadavg_start'))} -> "
                     f"{_load(r.get('loadavg_end'))}")
        L.append("- A 1-minute load average above about 1 means other work shared the 2 cores with the benchmark "
                 "(the earlier sessions ran beside other jobs, load 2 to 5): absolute wall times from those "
                 "sessions are pessimistic; compare ratios measured in the same run.")
    L.append("")

    # ------------------------------------------------------------------------------------------ 1 main
    L += ["## 1. Main job (small synthetic default)", ""]
    if not main:
        L += _missing("main", "main")
    else:
        s = main["summary"]
        L += [f"Command (in a fresh copy of the workflow): `{main['command']}`, from a clean `results/`; "
              f"\"data generation included\" also removes `resources/` (the synthetic data), \"excluded\" keeps it. "
              f"The two variants alternate; {main['repeat']} run(s) each"
              + (f" ({main.get('repeat_requested')} requested; the series stops starting new repeats after a time "
                 f"budget; with the machine this busy one pair took "
                 f"{_f(sum(r['wall_s'] for k in main['runs'] for r in main['runs'][k]) / 60, 0)} minutes)"
                 if main.get("repeat_requested", main["repeat"]) > main["repeat"] else "")
              + ". The copy adds a `benchmark:` file to the "
              "rules that have none (`bench/common.py`), so that every job's time and memory are recorded.", "",
              "| | wall (s) | jobs | sum of job times (s) | sum of job CPU (s) | outside rules (s) | outside rules (share) | before the first job starts (s) |",
              "|---|---:|---:|---:|---:|---:|---:|---:|"]
        for prefix, summary in (("", s), (f"_before_ (commit {(bef or {}).get('code', {}).get('commit')}), ",
                                          (bef or {}).get("summary"))):
            for key, label in (("with_data", "included"), ("without_data", "excluded")):
                if summary:
                    d = summary[key]
                    L.append(f"| {prefix}data generation {label} | {_f(d['wall_s'])} | {d['n_jobs']} | "
                             f"{_f(d['sum_job_s'])} | {_f(d.get('sum_cpu_s'))} | {_f(d['outside_rules_s'])} | "
                             f"{_f(100 * d['outside_share'], 0)} % | {_f(d['before_first_job_s'])} |")
        walls = {k: [round(r["wall_s"], 1) for r in main["runs"][k]] for k in main["runs"]}
        loads = [r["load_before"][0] for k in main["runs"] for r in main["runs"][k] if r.get("load_before")]
        L += ["",
              f"Individual runs (s): included {walls['with_data']}, excluded {walls['without_data']}; "
              f"same-run ratio included/excluded {_f(main['with_over_without_median_ratio'], 2)}. "
              f"1-minute load average before the runs: {_load(loads)}.", "",
              "\"Outside rules\" = wall time minus the time during which at least one job was running "
              "(job intervals from the benchmark files): start-up, parsing and DAG building before the first "
              "job, scheduling gaps between jobs and the final bookkeeping. When jobs overlap (2 cores), the "
              "sum of job times exceeds the wall time.", ""]
        wr, wo = s["with_data"]["rules"], s["without_data"]["rules"]
        syn = wr.get("synth_data", {}).get("s")
        tr_ = wo.get("train", {})
        L += [f"Data generation itself is small: the `synth_data` job took {_f(syn)} s. Training is "
              f"{_f(100 * tr_.get('s', 0) / max(s['without_data']['sum_job_s'], 1e-9), 0)} % of all job time "
              f"({tr_.get('jobs')} jobs: three models, one per seed of the default `seeds: [0, 1, 2]`; "
              f"{_f(tr_.get('cpu'))} CPU s)."
              + (" The _before_ rows were measured with one seed, the earlier models, torch's default OpenMP wait "
                 "policy and the SLURM executor plugin installed (findings 1 and 3 at the end); the machine was "
                 "busier then (1-minute load "
                 f"{_load(bef['summary']['without_data'].get('loadavg_1min_before'))}), so compare the shares "
                 "and the CPU seconds rather than the wall times." if bef else ""), "",
              "Per rule (data generation excluded, except `synth_data`; medians over the runs):", "",
              "| rule | jobs | total job time (s) | CPU (s) | longest job (s) | peak RSS (MB) |",
              "|---|---:|---:|---:|---:|---:|"]
        rules = dict(s["without_data"]["rules"])
        if "synth_data" in s["with_data"]["rules"]:
            rules["synth_data"] = s["with_data"]["rules"]["synth_data"]
        for k, d in sorted(rules.items(), key=lambda kv: -kv[1]["s"]):
            L.append(f"| {k} | {d['jobs']} | {_f(d['s'])} | {_f(d.get('cpu'))} | {_f(d['max_job_s'])} | "
                     f"{_f(d['max_rss'], 0)} |")
        L.append("")

    # ------------------------------------------------------------------------------------------ 2 noop
    L += ["## 2. No-op rerun and dry-run at full size", ""]
    if not nf:
        L += _missing("noop", "noop")
    else:
        m = nf["median_s"]
        data = full.get("data", {})
        L += [f"Full-size synthetic data: 20 sessions, {nf['segments']:,} segments, "
              f"{_f((data.get('bytes') or 0) / 2**30, 1)} GiB; generated once by "
              f"`{data.get('command', 'snakemake resources/synthetic/KEMDy19.manifest.json --cores 2 --configfile bench_full.yaml')}` "
              f"(synth_data job: {_f(data.get('synth_data_s'))} s). `bench_full.yaml` sets `synthetic.size: full` "
              "and bounds training to a few epochs, so that the whole table exists and the rerun is a true no-op. "
              f"The DAG has {nf['jobs_in_dag']} jobs. {len(nf['times_s']['noop'])} runs of each command, interleaved.", "",
              "| command | median (s) | runs (s) | peak RSS of snakemake (MB) |", "|---|---:|---|---:|"]
        labels = {"noop": "no-op rerun", "dryrun": "dry-run, all up to date", "dryrun_forceall": "dry-run planning every job",
                  "version": "`snakemake --version` (start-up only)"}
        for k, lab in labels.items():
            for suffix, extra in (("", ""), ("_plugin", " - with the SLURM executor plugin")):
                key = k + suffix
                if key not in m:
                    continue
                cmd = nf["commands"].get(k, "")
                L.append(f"| {lab}{extra}: `{cmd}` | {_f(m[key], 2)} | "
                         f"{', '.join(_f(x, 2) for x in nf['times_s'][key])} | {_f(nf['max_rss_mb'].get(key), 0)} |")
        L += ["",
              "**The SLURM executor plugin's start-up probe.** Every `snakemake` command, even "
              "`snakemake --version`, imports all installed executor plugins. `snakemake-executor-plugin-slurm` "
              "(2.8.0) computes the help text of its `status_command` setting *at import time*: when the SLURM "
              "client (`sinfo`, `sacct`, `scontrol`) is on PATH it runs `scontrol show config` (timeout 10 s) to "
              "read `MinJobAge`. Where the SLURM client is installed but no controller answers, as on this "
              "machine between test runs, that call blocks until scontrol gives up: importing the plugin alone "
              f"took {_f(nf['slurm_plugin_import_median_s'], 1)} s (median), and each command above was "
              f"{_f(nf['slurm_cost_noop_median_s'], 1)} s slower with the plugin importable (same runs, "
              "interleaved; the plugin is put on PYTHONPATH from `.venv/slurm-plugin`). The plugin was "
              "therefore moved out of `envs/requirements.txt` into `envs/requirements-cluster.txt` "
              "(`make setup-cluster` on a submission host, where the controller answers at once); the test suite "
              "loads it from a side folder for the SLURM tests only.", ""]

    # ------------------------------------------------------------------------------------------ 3 features
    L += ["## 3. Feature extraction at full size", ""]
    if not ff:
        L += _missing("features", "features")
    else:
        L += [f"From scratch (index and features; data present): `{ff['command']}` took {_f(ff['wall_s'])} s wall "
              f"for {ff['segments']:,} segments ({_f(ff['outside_rules_s'])} s outside rules); load average "
              f"before/after {_load(ff.get('load_before'))} / {_load(ff.get('load_after'))}.", "",
              "| modality | jobs | sum of job times (s) | sum of job CPU (s) | segments per job-second | segments per CPU-second | stage wall, 2 cores (s) | segments per second of stage wall |",
              "|---|---:|---:|---:|---:|---:|---:|---:|"]
        for mod in ("bio", "text", "audio"):
            t = ff["throughput"][mod]
            L.append(f"| {mod} | {t['jobs']} | {_f(t['sum_job_s'])} | {_f(t.get('sum_cpu_s'))} | "
                     f"{_f(t['segments_per_s_per_core'], 0)} | {_f(t.get('segments_per_cpu_s'), 0)} | "
                     f"{_f(t['stage_wall_s'])} | {_f(t['segments_per_s_stage'], 0)} |")
        L += ["", "Job time includes each job's Python start-up and imports (about 1 s per job here; the bio stage "
              "has 120 jobs, one per participant file and signal). Text = `text_features` only "
              f"(the tokenizer/backbone build took {_f(ff['rules'].get('build_text_backbone', {}).get('s'))} s). "
              "Audio = the per-session `audio_features` jobs (`gather_audio`, which concatenates them into one "
              f"array, took {_f(ff['rules'].get('gather_audio', {}).get('s'))} s).", ""]
        c = ff.get("cores") or {}
        if c:
            L += ["**1 vs 2 cores** (each stage forced again with `--forcerun`; runs interleaved, "
                  f"{len(next(iter(c.values()))['cores1_s'])} run(s) each):", "",
                  "| stage | 1 core: wall (s) | 2 cores: wall (s) | speed-up, wall | 1 core: jobs running (s) | 2 cores: jobs running (s) | speed-up, jobs running | segments/s, 1 core | segments/s, 2 cores | CPU s, 1 / 2 cores |",
                  "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
            for st, d in c.items():
                L.append(f"| {st} | {_f(d['median_cores1_s'])} | {_f(d['median_cores2_s'])} | "
                         f"{_f(d['speedup_median_of_ratios'], 2)}x | {_f(d.get('median_busy1_s'))} | "
                         f"{_f(d.get('median_busy2_s'))} | {_f(d.get('speedup_busy_median_of_ratios'), 2)}x | "
                         f"{_f(d['segments_per_s_cores1'], 0)} | {_f(d['segments_per_s_cores2'], 0)} | "
                         f"{_f(common.median(d.get('cpu1_s', [])))} / {_f(common.median(d.get('cpu2_s', [])))} |")
            first = next(iter(c.values()))
            share, used2 = [], []
            for st, d in c.items():
                c1, c2 = common.median(d.get("cpu1_s", [])), common.median(d.get("cpu2_s", []))
                b1, b2 = d.get("median_busy1_s"), d.get("median_busy2_s")
                if c1 == c1 and b1:
                    share.append(f"{st} {_f(c1 / b1, 2)} of 1 core / {_f(c2 / b2, 2)} of 2 cores")
                    used2.append(c2 / b2)
            if share:
                L += ["", "CPU actually obtained while the stage's jobs ran (CPU seconds / seconds): "
                      + "; ".join(share) + "."]
                if max(used2) < 1.0:
                    L[-1] += (" The jobs got less than one core's worth of CPU with either setting: the other work "
                              "on the machine took the rest, so the 2-core speed-up could not show here.")
                if any(d.get("speedup_busy_median_of_ratios", 0) > 2 for d in c.values()):
                    L[-1] += (" A speed-up above 2x on 2 cores is noise: the same stage's CPU seconds differ "
                              "between the 1-core and 2-core runs by more than the excess (last column), as the "
                              "other load on the machine varied.")
                L[-1] += (" The bio stage is 120 independent jobs of at most a few seconds each and the audio "
                          "stage 20; a job's CPU time is below its wall time where it waits on reading the raw "
                          "files, so the speed-up is bounded by the CPU the jobs can use, not by the DAG.")
            L += ["", f"Commands, e.g. `{first['command_cores1']}` and `{first['command_cores2']}`. \"Jobs running\" = time during which at least one of the "
                  "stage's jobs ran (from the benchmark files), i.e. without Snakemake's start-up. Load average "
                  f"after the runs: {_load(first.get('load'))}; with other work on the same two cores a second "
                  "core is only partly available, so the speed-up is a lower bound. The text stage is two "
                  "single-threaded jobs in sequence, so a second core cannot help it and it is not timed here.", ""]
    if bio:
        mb = sum(bio["raw_bytes"].values()) / 1e6
        L += ["### Bio features: ours vs naive vs bare parsing", "",
              f"`{bio.get('command', 'python bench/bio_features.py')}` — {bio['files']} full-size raw files "
              f"({bio['participants']} participants x ECG/EDA/TEMP, {mb:.0f} MB, {bio['raw_rows']:,} rows, "
              f"{bio['segments']:,} segments); in one process, {bio['repeat']} repeats, the three approaches "
              "timed in turn within each repeat.", "",
              "| approach | seconds (median) | ms per segment |", "|---|---:|---:|",
              f"| (a) ours: read each file once, R peaks once per recording, vectorised per-segment features | "
              f"{_f(bio['ours_s'], 2)} | {_f(1000 * bio['ours_s'] / bio['segments'], 2)} |",
              f"| (b) naive: per segment, re-read the file with pandas, `neurokit2.ecg_process` + `hrv_time` on the "
              f"slice, EDA periodogram, TEMP line fit (timed on {bio['naive_segments_timed']} segments, "
              f"extrapolated) | {_f(bio['naive_s_extrapolated'], 1)} | {_f(1000 * bio['naive_s_per_segment'], 1)} |",
              f"| (c) bare `pandas.read_csv` of the same files | {_f(bio['parse_s'], 2)} | |", "",
              f"- (b)/(a) = **{_f(bio['speedup_vs_naive'], 0)}x** (goal >= 20x: "
              f"{'met' if bio['goal_speedup_ge_20'] else 'NOT met'}).",
              f"- (a)/(c) = **{_f(bio['ours_over_parse_per_repeat_median'], 2)}x** the bare parse, median of the "
              f"per-repeat ratios (goal <= 3x: {'met' if bio['ours_over_parse_per_repeat_median'] <= 3 else 'NOT met'}). "
              f"Runs (s): ours {', '.join(_f(x, 2) for x in bio['ours_s_all'])}; parse "
              f"{', '.join(_f(x, 2) for x in bio['parse_s_all'])}.", ""]
        if bio.get("participants", 0) < 40:
            L += [f"The comparison uses {bio['participants']} of the 40 participant files (each file is full "
                  "size: a whole session's recording); the per-segment figures do not depend on how many files "
                  "are included. `--participants` selects others; leave it out for all 40.", ""]
    else:
        L += _missing("bio", "bio")

    # ------------------------------------------------------------------------------------------ 4 scaling
    L += ["## 4. Scaling with data size", ""]
    if not scal:
        L += _missing("scaling", "scaling")
    else:
        L += [f"`{scal['command']}` (index, bio and text stages; from a clean `results/`; {scal['repeat']} "
              "run(s) per size, medians). The first N sessions of the full-size data are linked into a separate "
              "dataset folder per size, read like a real KEMDy19 copy. The SLURM client commands are hidden from "
              "PATH for these runs (section 2), so the fixed start-up cost of the SLURM plugin's probe is not "
              "in the figures.", "",
              "| sessions | segments | total wall (s) | bio jobs (s) | bio CPU (s) | text jobs (s) | text CPU (s) | index (s) | outside rules (s) | wall per 1,000 segments (s) | CPU per 1,000 segments (s) |",
              "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
        for r in scal["table"]:
            L.append(f"| {r['sessions']} | {r['segments']:,} | {_f(r['wall_s'])} | {_f(r['bio_s'])} | "
                     f"{_f(r.get('bio_cpu_s'))} | {_f(r['text_s'])} | {_f(r.get('text_cpu_s'))} | {_f(r['index_s'])} | "
                     f"{_f(r['outside_rules_s'])} | {_f(1000 * r['wall_s'] / r['segments'])} | "
                     f"{_f(1000 * r['cpu_s'] / r['segments']) if r.get('cpu_s') else 'n/a'} |")
        L += ["", "Least-squares fits t = a + b x segments and the log-log slope (1 = proportional to the data; "
              "a fixed part pulls it below 1):", "",
              "| series | a: fixed (s) | b: s per 1,000 segments | log-log slope | R² |", "|---|---:|---:|---:|---:|"]
        for k, lab in (("wall_s", "total wall"), ("cpu_s", "total CPU of the jobs"), ("bio_s", "bio job time"),
                       ("bio_cpu_s", "bio CPU"), ("text_s", "text job time"), ("text_cpu_s", "text CPU"),
                       ("index_s", "index")):
            if k not in scal["fits"]:
                continue
            f = scal["fits"][k]
            L.append(f"| {lab} | {_f(f['intercept_s'], 1)} | {_f(f['s_per_1000_segments'], 2)} | "
                     f"{_f(f['loglog_slope'], 2)} | {_f(f['r2'], 3)} |")
        L += ["", "The CPU time of the bio stage is proportional to the data (one job per participant file, each "
              "file a session's recording); the text stage is a fixed cost at these sizes (tokenizer training "
              "and a small BERT initialisation, about 20 s, mostly imports and start-up). Wall times carry the "
              "noise of the shared machine (other jobs' load varied between the runs); the CPU series are the "
              "cleaner measure of growth.", "", f"![time against data size]({scal['plot']})", ""]

    # ------------------------------------------------------------------------------------------ 5 training
    L += ["## 5. Training throughput", ""]
    if not tr:
        L += _missing("training", "training")
    if tr:
        L += [f"Full-size data, {tr['epochs']} epochs per model (config `epochs` bounded through "
              "`bench_full.yaml`; the default trains up to 30-80 epochs with early stopping), "
              f"{len(next(iter(tr['modalities'].values()))['job_s_all'])} run(s) per model. "
              f"Splits: {', '.join(f'{k} {v:,}' for k, v in tr['splits'].items())}. Samples per second = training "
              "rows / median epoch time from `curve.csv` (an epoch = one training pass plus the validation pass).",
              "", "| model | device | training rows | samples/s (median) | whole job (s, median) | peak RSS (MB) |",
              "|---|---|---:|---:|---:|---:|"]
        dev = (f"CPU, {tr.get('threads', 2)} thread(s)" if mach.get("gpu") in (None, "none") else "auto")
        for m_, d in tr["modalities"].items():
            L.append(f"| {m_} | {dev} | {d['n_train']:,} | {_f(d['samples_per_s_epoch_median'], 0)} | "
                     f"{_f(d['job_s_median'])} | {_f(d['max_rss_mb'], 0)} |")
        cmd = next(iter(tr["modalities"].values()))["command"]
        L += ["", f"Command, e.g. `{cmd}`. GPU: none available on this machine, so no GPU figures; "
              "with a GPU the same command runs there (`device: auto`).", ""]
    ts = common.load("training_steps")
    if ts and "cpu_2_passive" in next(iter(ts["models"].values())):
        L += ["**Training steps in isolation** (`" + ts["command"] + "`): the models as the workflow builds "
              "them, random inputs of the real shapes, forward + loss + backward + AdamW at the configured "
              f"batch size, {ts['seconds']:g} s timed per model and setting, each in a fresh interpreter, "
              f"{ts['repeat']} repeats with the settings alternating (load average before/after: "
              f"{_load(ts.get('load_before'))} / {_load(ts.get('load'))}).", "",
              "| model | batch | samples/s: 1 thread | 2 threads | 2 threads, `OMP_WAIT_POLICY=PASSIVE` | "
              "2 vs 1 threads | passive vs default, 2 threads |" + (" GPU |" if ts.get("cuda") else ""),
              "|---|---:|---:|---:|---:|---:|---:|" + ("---:|" if ts.get("cuda") else "")]
        for m_, d in ts["models"].items():
            L.append(f"| {m_} | {ts['batch'][m_]} | {_f(d['cpu_1']['median'], 0)} | {_f(d['cpu_2']['median'], 0)} | "
                     f"{_f(d['cpu_2_passive']['median'], 0)} | {_f(d['ratio_2_over_1_threads'], 2)}x | "
                     f"{_f(d['ratio_2passive_over_2'], 1)}x |"
                     + (f" {_f(d['cuda']['median'], 0)} |" if ts.get("cuda") else ""))
        mods = ts["models"]
        L += ["", f"1-minute load average before these runs: {_load(ts.get('load_before'))}. Two threads were "
              + ", ".join(f"{m_} {_f(d['ratio_2_over_1_threads'], 2)}x" for m_, d in mods.items())
              + " the speed of one thread with OpenMP's default wait policy, and "
              + ", ".join(f"{m_} {_f(d['ratio_2passive_over_1'], 2)}x" for m_, d in mods.items())
              + " with the passive policy. On a busy machine the default policy is a trap (finding 3 at the "
              "end: spinning threads wait for a partner the kernel has descheduled); on a quiet one it is "
              "the faster of the two. Either way a second thread gives these small models well under 2x, "
              "while two single-threaded jobs side by side use both cores fully, as the next table shows.", ""]
    tt = common.load("train_threads")
    if tt:
        L += ["**The workflow's training jobs under those settings** (small default, training bounded to "
              + ", ".join(f"{m} {e}" for m, e in tt["epochs"].items()) + " epochs; the three `train` jobs forced "
              f"again; {tt['repeat']} run(s) per variant, variants alternating):", "",
              "| variant | command | training jobs running (s) | bio job (s) | audio job (s) | text job (s) |",
              "|---|---|---:|---:|---:|---:|"]
        lab = {"threads2": "2 threads per job (before)", "threads1": "1 thread per job (as configured now)",
               "default": "as configured then (2 threads per job)", "passive": "2 threads, passive wait policy"}
        for k, cmd in tt["commands"].items():
            js = tt["median_job_s"][k]
            L.append(f"| {lab.get(k, k)} | `{cmd}` | {_f(tt['median_jobs_running_s'][k])} | {_f(js.get('bio'))} | "
                     f"{_f(js.get('audio'))} | {_f(js.get('text'))} |")
        L.append("")
    if not tr and not ts:
        pass

    # ------------------------------------------------------------------------------------------ 6 memory
    L += ["## 6. Memory", ""]
    table = _memory_table(main, full)
    if not table:
        L += _missing("memory", "features,training,main")
    else:
        L += ["Peak resident memory (`max_rss` of Snakemake's benchmark files) of the largest job of each rule, "
              "on the small default (section 1) and at full size (sections 2, 3, 5; training bounded to a few "
              "epochs, which does not change its memory).", "",
              "| rule | jobs (small / full) | peak RSS, small (MB) | peak RSS, full size (MB) |", "|---|---:|---:|---:|"]

        def cell(x):
            return "n/a" if x is None else (_f(x[1], 0) if x[1] >= 1 else "too short to sample")

        order = sorted(table.items(), key=lambda kv: -max(v[1] for v in kv[1].values()))
        for rule, d in order:
            jobs = " / ".join(str(d[w][0]) if w in d else "-" for w in ("small", "full"))
            L.append(f"| {rule} | {jobs} | {cell(d.get('small'))} | {cell(d.get('full'))} |")
        if nf:
            L += ["", f"Snakemake itself (no-op rerun at full size, whole process): "
                  f"{_f(nf['max_rss_mb'].get('noop'), 0)} MB."]
        L += ["", "Nothing needs more than a few GiB; the largest jobs are the audio gather (the float16 array "
              "of all clips) and audio training (which holds it).", ""]

    # ------------------------------------------------------------------------------------------ 7 quality
    L += ["## 7. Model quality and fusion methods (small default)", ""]
    fm = common.load("fusion_methods")
    if not fm:
        L += _missing("fusion", "main")
    else:
        if fm.get("table1"):
            L += ["`results/table1.csv` of the main-job run (section 1; mean over the seeds; the oracle is the "
                  "Bayes-optimal classifier of the synthetic cue model on the same test utterances):", "",
                  "| setting | accuracy (± std) | macro F1 (± std) | oracle accuracy | % of oracle |",
                  "|---|---:|---:|---:|---:|"]
            for r in fm["table1"]:
                L.append(f"| {r['setting']} | {_f(r['accuracy'], 3)} ± {_f(r['accuracy_std'], 3)} | "
                         f"{_f(r['f1_macro'], 3)} ± {_f(r['f1_macro_std'], 3)} | {_f(r['oracle_accuracy'], 3)} | "
                         f"{_f(100 * r['accuracy'] / r['oracle_accuracy'], 0)} % |")
            L.append("")
        L += [f"Every fusion method on the same trained models (`{fm['command']}`, which calls the workflow's "
              "`emoflow.fusion.run_setting` on the run's prediction tables; mean over "
              f"{fm['rows'][0]['n_seeds']} seed(s)). The default is `product` with calibration.", "",
              "| setting | method | calibrated | accuracy | macro F1 | UAR |", "|---|---|---|---:|---:|---:|"]
        for r in fm["rows"]:
            if "+" not in r["setting"]:
                continue
            L.append(f"| {r['setting']} | {r['method']} | {'yes' if r['calibrate'] else 'no'} | "
                     f"{_f(r['accuracy'], 3)} | {_f(r['f1_macro'], 3)} | {_f(r['uar'], 3)} |")
        L.append("")

    # ------------------------------------------------------------------------------------------ findings
    L += ["## What is slow, and what changed", ""]
    L += _findings(main, bef, full, bio, scal)
    return "\n".join(L).rstrip() + "\n"


def _memory_table(main, full):
    """rule -> {"small": (jobs, MB), "full": (jobs, MB)}."""
    rows: dict = {}

    def add(rules, where):
        for r, d in (rules or {}).items():
            mb = d.get("max_rss")
            if mb is None or mb != mb:
                continue
            cur = rows.setdefault(r, {}).get(where)
            if cur is None or mb > cur[1]:
                rows[r][where] = (d.get("jobs"), mb)

    if main:
        add(main["summary"]["without_data"]["rules"], "small")
        add({"synth_data": main["summary"]["with_data"]["rules"].get("synth_data", {})}, "small")
    for key in ("features", "table"):
        if full.get(key):
            add(full[key]["rules"], "full")
    tr = full.get("training")
    if tr:
        add({"train": {"max_rss": max(d["max_rss_mb"] or 0 for d in tr["modalities"].values()), "jobs": 3}}, "full")
    return rows


def _memory_rows(main, full):
    out = []
    for r, d in _memory_table(main, full).items():
        for where, (jobs, mb) in d.items():
            out.append((r, jobs, mb, "full size" if where == "full" else "small"))
    return sorted(out, key=lambda x: -x[2])


def _peak_memory(main, full):
    rows = _memory_rows(main, full)
    return (rows[0][0], rows[0][2], rows[0][3]) if rows else None


def _findings(main, bef, full, bio, scal):
    L = []
    nf = full.get("noop")
    if nf:
        m = nf["median_s"]
        L += ["1. **Snakemake start-up: the SLURM executor plugin's import-time probe** (fixed). "
              f"With the plugin installed, the no-op rerun at full size took {_f(m['noop_plugin'], 2)} s and "
              f"`snakemake --version` {_f(m['version_plugin'], 2)} s on this machine; without it "
              f"{_f(m['noop'], 2)} s and {_f(m['version'], 2)} s (same runs, "
              f"{_f(m['noop_plugin'] / m['noop'], 1)}x), so Snakemake's own work for a {nf['jobs_in_dag']}-job "
              f"DAG over {nf['segments']:,} segments is about {_f(m['noop'] - m['version'], 1)} s. The probe is "
              "inside the plugin package, not in the workflow: the fix installs the plugin only where SLURM is "
              "used (`envs/requirements-cluster.txt`, `make setup-cluster`). On a cluster login node the probe "
              "returns at once.", ""]
    ff = full.get("features")
    if ff and ff.get("per_signal"):
        ps, ic = ff["per_signal"], ff.get("import_cost", {})
        L += ["2. **Bio stage: many small jobs.** One job per participant file and signal "
              f"({sum(d['jobs'] for d in ps.values())} at full size):", "",
              "| signal | jobs | job time (s) | CPU (s) | CPU per job (s) | start-up + imports per job, CPU (s) |",
              "|---|---:|---:|---:|---:|---:|"]
        for sig, d in ps.items():
            L.append(f"| {sig} | {d['jobs']} | {_f(d['s'])} | {_f(d['cpu'])} | {_f(d['cpu'] / d['jobs'], 2)} | "
                     f"{_f(ic.get(sig, {}).get('cpu_s'), 2)} |")
        eda_temp = [ps[s_] for s_ in ("eda", "temp") if s_ in ps]
        if eda_temp and ic:
            L += ["", "For EDA and TEMP, starting the interpreter and importing the modules (measured separately "
                  "in a fresh interpreter, last column) costs about as much CPU as the whole job records; the "
                  "features themselves take a few hundredths of a second per file. The ECG jobs do real work (R-peak detection over ~900,000 "
                  "samples per file). Considered and not done: one `bio_features` job per participant computing "
                  "all three signals (40 jobs instead of 120 at full size) would save two start-ups per "
                  "participant, but a change to the EDA or TEMP settings would then rerun the ECG R-peak "
                  "detection too, which is most of the stage's cost, and incremental reruns after changing one "
                  "feature are what the per-signal jobs are for. The stage is already within 3x of bare CSV "
                  "parsing and scales linearly (sections 3 and 4); on clusters the rule's `group: bio_features` "
                  "batches the small jobs into few submissions."]
        L.append("")
    ts = common.load("training_steps")
    tt = common.load("train_threads")
    if ts and "cpu_2_passive" in next(iter(ts["models"].values())):
        mods = ts["models"]
        L += ["3. **Training: threads per job.** The training rule used to ask for `threads: 2`, so torch ran "
              "two OpenMP threads per job. (a) In an earlier session, with other work on the same two cores "
              "(load 2 to 5), OpenMP's default wait policy made the threads spin at every barrier for a "
              "partner the kernel had descheduled: the workflow's three bounded training jobs took 123 s as "
              "configured, 32 s with `OMP_WAIT_POLICY=PASSIVE` and 31 s with one thread per job (same run; "
              "`bench/train_threads.py` at commit 7e237b0). "
              "Fix (commit 37cef8f): `workflow/rules/common.smk` sets `OMP_WAIT_POLICY=PASSIVE` unless the "
              "user set it; every job inherits it, no result changes and a Snakefile change reruns nothing. "
              "(b) On a quieter machine (section 5) a second thread gives "
              + ", ".join(f"{m_} {_f(d['ratio_2passive_over_1'], 2)}x" for m_, d in mods.items())
              + " of one thread's speed under that policy, so two single-threaded jobs side by side beat one "
              "two-threaded job at a time."]
        if tt and "threads2" in tt["median_jobs_running_s"]:
            mj = tt["median_jobs_running_s"]
            L[-1] += (f" The same three bounded training jobs: {_f(mj['threads2'])} s with two threads per job, "
                      f"{_f(mj['threads1'])} s with one ({_f(mj['threads2'] / mj['threads1'], 2)}x; same run).")
        L[-1] += (" Fix: the `train` rule asks for `threads: 1` (for a large model on CPU, such as KoBERT, "
                  "`--set-threads train=8`). One thread instead of two changes floating-point summation order, "
                  "so the checkpoints changed (equally deterministic); Table 1 in the README was rebuilt with it.")
        if bef and main:
            tb = bef["summary"]["without_data"]["rules"].get("train", {})
            tn = main["summary"]["without_data"]["rules"].get("train", {})
            L[-1] += (f" Training jobs in the main job: before, {tb.get('jobs')} jobs (one seed, earlier models) "
                      f"took {_f(tb.get('s'))} s for {_f(tb.get('cpu'))} CPU s; now {tn.get('jobs')} jobs (three "
                      f"seeds) take {_f(tn.get('s'))} s for {_f(tn.get('cpu'))} CPU s.")
        L[-1] += (" A profile of the training steps shows convolutions, matrix products, pooling, normalisation "
                  "and dropout, no Python overhead worth removing.")
        L.append("")
    other = []
    if main:
        d = main["summary"]["without_data"]
        other.append(f"the main job spends {_f(100 * d['outside_share'], 0)} % of its wall time outside rules "
                     f"({_f(d['outside_rules_s'])} s, of which {_f(d['before_first_job_s'])} s before the first "
                     "job starts: Snakemake start-up and DAG building)")
    if scal:
        fc, fb = scal["fits"].get("cpu_s"), scal["fits"].get("bio_cpu_s")
        if fc and fb:
            other.append(f"the feature stages grow linearly with data size (CPU: {_f(fc['intercept_s'], 0)} s fixed + "
                         f"{_f(fc['s_per_1000_segments'], 1)} s per 1,000 segments, R² {_f(fc['r2'], 3)}; bio CPU "
                         f"log-log slope {_f(fb['loglog_slope'], 2)})")
    if bio:
        other.append(f"bio extraction is {_f(bio['speedup_vs_naive'], 0)}x faster than the naive approach and "
                     f"{_f(bio['ours_over_parse_per_repeat_median'], 2)}x the bare parse")
    if other:
        L += ["4. **Within goals, no change needed:** " + "; ".join(other) + ".", ""]
    return L
