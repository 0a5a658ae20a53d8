#!/usr/bin/env python3
"""Compares heapline with heaptrack on the same workloads, side by side, as paired runs.

For each workload, each round runs it untraced, under heapline and under heaptrack (and under
heapline's sampling mode), in a rotating order, so that machine noise hits every mode alike.
Reported are medians over rounds of:
  - slowdown: wall time / untraced wall time of the same round
  - cpu: user+sys seconds of the whole process tree (heaptrack's interpreter included)
  - added cost per allocation (us): (wall - untraced wall) / allocations
  - profiler memory: peak RSS of the traced tree minus the untraced run's
  - trace bytes per allocation: heapline's trace on disk (st_blocks) vs heaptrack's .zst
  - analysis: allocations per second of `heapline report --json` vs `heaptrack_print` (medians
    of --analysis-rounds alternating runs on the last round's traces)
With --sample-bytes N, also the sampling mode. Its slowdown, added cost and cpu come from a loop of
their own, --sample-pairs pairs of (untraced, sampled) runs that alternate which goes first: the
target is a ratio of two short runs (churn: ~20 ms) a millisecond apart, which the rounds' few
samples, taken between heaptrack's and heapline's full runs, cannot resolve (the rounds' figure
is kept in the JSON and printed on a comment line). Also whether its heaviest sites come in the full
trace's order (the last round's sampled trace, plus --seeds more untimed runs with fixed seeds),
and for each adjacent pair of the full trace's top sites the largest interval at which sampling
tells them apart at 3 standard deviations (sd <= sqrt(B N) per site of B bytes): a pair closer
than the interval can resolve swaps by chance, whatever the recorder does; the pairs that are
3 sd apart must come in order, and the script counts the seeds in which they do.
Usage: bench/run_bench.py [--build build] [--rounds 5] [--only churn1,sqlite3]
                          [--sample-bytes N [--seeds K] [--sample-pairs 21]]
                          [--analysis-rounds 7]
"""
import argparse
import json
import math
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))


def make_sqlite_script(path, rows):
    with open(path, "w") as f:
        f.write("create table t(a integer primary key, b text, c real);\nbegin;\n")
        for i in range(rows):
            f.write(f"insert into t(b, c) values('{'x' * (1 + i * 7 % 60)}', {i * 0.37});\n")
        f.write("commit;\ncreate index tb on t(b);\nselect count(*), sum(length(b)) from t;\n")
        f.write("select b from t order by c desc limit 3;\n")


def make_cxx_source(path):
    with open(path, "w") as f:
        f.write("#include <map>\n#include <string>\n#include <vector>\n#include <algorithm>\n")
        f.write("#include <memory>\n#include <functional>\n#include <regex>\n")
        for i in range(40):
            f.write(f"std::map<std::string, std::vector<int>> table{i}() {{\n")
            f.write(f"  std::map<std::string, std::vector<int>> m; m[\"k{i}\"] = {{1, 2, {i}}};\n")
            f.write("  std::sort(m[\"a\"].begin(), m[\"a\"].end()); return m; }\n")
        f.write("int main() { std::regex r(\"a+b\"); return table0().size(); }\n")


def workloads(build, tmp):
    sql = os.path.join(tmp, "bench.sql")
    make_sqlite_script(sql, 20000)
    cxx = os.path.join(tmp, "bench.cpp")
    make_cxx_source(cxx)
    ii = os.path.join(tmp, "bench.ii")  # preprocessed once, so cc1plus needs no include paths
    subprocess.run(["g++", "-E", cxx, "-o", ii], check=True)
    cc1plus = subprocess.run(["g++", "-print-prog-name=cc1plus"], capture_output=True,
                             text=True).stdout.strip()
    py = "d = {}\nfor i in range(200000): d[str(i)] = [i] * (i % 5)\nprint(len(d))\n"
    return {
        "churn1": ([f"{build}/bin/bench_churn", "1", "1000000"], None, {}),
        "churn2": ([f"{build}/bin/bench_churn", "2", "500000"], None, {}),
        "containers": ([f"{build}/bin/bench_containers", "10"], None, {}),
        "sqlite3": (["sqlite3", ":memory:"], sql, {}),
        "python3": (["/usr/bin/python3", "-c", py], None, {"PYTHONMALLOC": "malloc"}),
        # cc1plus itself: heaptrack follows no child processes, so the g++ driver would hide it.
        "cc1plus": ([cc1plus, "-fpreprocessed", "-quiet", "-O1", ii, "-o", os.path.join(tmp, "bench.s")], None, {}),
    }


def run_tree(argv, stdin_path, env):
    """Runs argv to completion; returns (wall s, cpu s of the tree, max rss KiB)."""
    stdin = open(stdin_path) if stdin_path else subprocess.DEVNULL
    start = time.perf_counter()
    proc = subprocess.Popen(argv, stdin=stdin, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL, env=env)
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - start
    if stdin_path:
        stdin.close()
    if os.waitstatus_to_exitcode(status) != 0:
        raise RuntimeError(f"{argv[0]} failed with status {status}")
    return wall, usage.ru_utime + usage.ru_stime, usage.ru_maxrss


def du_bytes(paths):
    return sum(os.stat(p).st_blocks * 512 for p in paths)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--build", default=os.path.join(HERE, "..", "build"))
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--only", default="")
    ap.add_argument("--sample-bytes", default="")
    ap.add_argument("--seeds", type=int, default=0)
    ap.add_argument("--analysis-rounds", type=int, default=7)
    ap.add_argument("--sample-pairs", type=int, default=21)
    args = ap.parse_args()
    build = os.path.abspath(args.build)
    preload = f"{build}/lib/libheapline_preload.so"
    heapline = f"{build}/bin/heapline"
    tmp = tempfile.mkdtemp(prefix="heapline-bench-")
    results = {}
    for name, (argv, stdin_path, extra_env) in workloads(build, tmp).items():
        if args.only and name not in args.only.split(","):
            continue
        base_env = dict(os.environ, **extra_env)
        modes = ["untraced", "heapline", "heaptrack"] + (["sampled"] if args.sample_bytes else [])
        rows = {m: [] for m in modes}
        failed = set()
        for r in range(args.rounds):
            order = modes[r % len(modes):] + modes[:r % len(modes)]
            for mode in order:
                out = os.path.join(tmp, f"{name}.{mode}.{r}")
                os.makedirs(out)
                env = dict(base_env)
                cmd = list(argv)
                if mode in ("heapline", "sampled"):
                    env["LD_PRELOAD"] = preload
                    env["HEAPLINE_OUTPUT"] = f"{out}/t.%p.trace"
                    if mode == "sampled":
                        env["HEAPLINE_SAMPLE_BYTES"] = args.sample_bytes
                elif mode == "heaptrack":
                    cmd = ["heaptrack", "-o", f"{out}/ht"] + cmd
                try:
                    wall, cpu, rss = run_tree(cmd, stdin_path, env)
                except RuntimeError as e:
                    print(f"# {name}: {mode} failed: {e}", flush=True)
                    failed.add(mode)
                    wall, cpu, rss = float("nan"), float("nan"), 0
                files = [os.path.join(out, f) for f in os.listdir(out)]
                rows[mode].append({"wall": wall, "cpu": cpu, "rss": rss, "files": files})
        # Analysis speed and counts from the last round's traces: the two analyzers alternate,
        # --analysis-rounds times each, and the medians are compared.
        hl_files = sorted(rows["heapline"][-1]["files"])
        main_trace = hl_files[0]
        ht_zst = [f for f in rows["heaptrack"][-1]["files"] if f.endswith(".zst")]
        hl_times, ht_times = [], []
        # One untimed report first: it keeps libc's inflated debug image in the analyzer's cache
        # (~/.cache/heapline), as the first report on any machine does for every later one.
        subprocess.run([heapline, "report", "--json", main_trace], capture_output=True, check=True)
        for _ in range(args.analysis_rounds):
            start = time.perf_counter()
            report_text = subprocess.run([heapline, "report", "--json", main_trace],
                                         capture_output=True, check=True).stdout
            hl_times.append(time.perf_counter() - start)
            report = json.loads(report_text)  # not timed: the bench's own work
            start = time.perf_counter()
            ht_out = "" if "heaptrack" in failed else subprocess.run(
                ["heaptrack_print", ht_zst[0]], capture_output=True, text=True).stdout
            ht_times.append(time.perf_counter() - start)
        hl_analysis = statistics.median(hl_times)
        ht_analysis = statistics.median(ht_times)
        allocs = report["summary"]["allocations"]
        ht_allocs = next((int(l.split(":")[1].split()[0]) for l in ht_out.splitlines()
                          if l.startswith("calls to allocation functions:")), 0)

        def median_ratio(mode, key):
            return statistics.median(rows[mode][i][key] / rows["untraced"][i][key]
                                     for i in range(args.rounds))

        def added_us(mode):
            return statistics.median((rows[mode][i]["wall"] - rows["untraced"][i]["wall"]) /
                                     max(allocs, 1) * 1e6 for i in range(args.rounds))

        res = {"allocations": allocs, "heaptrack_allocations": ht_allocs}
        for mode in modes[1:]:
            res[mode] = {
                "slowdown": median_ratio(mode, "wall"),
                "cpu_s": statistics.median(x["cpu"] for x in rows[mode]),
                "added_us_per_alloc": added_us(mode),
                "profiler_rss_mib": statistics.median(
                    (rows[mode][i]["rss"] - rows["untraced"][i]["rss"]) / 1024
                    for i in range(args.rounds)),
                "trace_bytes_per_alloc": statistics.median(
                    du_bytes(x["files"]) for x in rows[mode]) / max(allocs, 1),
            }
        res["untraced_cpu_s"] = statistics.median(x["cpu"] for x in rows["untraced"])
        if "sampled" in rows and "sampled" not in failed:
            res["sampled"]["slowdown_in_rounds"] = res["sampled"]["slowdown"]
            res["sampled"].update(sampling_pairs(argv, stdin_path, base_env, preload, args,
                                                 os.path.join(tmp, f"{name}.pairs"), allocs))
        res["analysis_allocs_per_s"] = {"heapline": allocs / hl_analysis,
                                        "heaptrack_print": ht_allocs / max(ht_analysis, 1e-9)}
        if "sampled" in rows and "sampled" not in failed:
            # Do the sampled trace's heaviest sites (by bytes allocated) come in the full trace's
            # order? Compared over the sites holding at least 5% of the bytes.
            def top_lines(rep):
                total = max(rep["summary"]["bytes_allocated"], 1)
                lines = sorted(rep["lines"], key=lambda l: -l["bytes_allocated"])
                return [l for l in lines if l["bytes_allocated"] >= 0.05 * total][:5]

            def site_of(line):
                return (line["function"], line["file"], line["line"])

            def top_sites(rep):
                return [site_of(l) for l in top_lines(rep)]

            def report_of(path):
                return json.loads(subprocess.run([heapline, "report", "--json", path],
                                                 capture_output=True, check=True).stdout)
            full_top = top_sites(report)
            total = max(report["summary"]["bytes_allocated"], 1)
            tops = top_lines(report)

            def interval_3sd(a, b):  # N <= D^2 / (9 (B1 + B2)): the pair is 3 sd apart
                return math.floor((a["bytes_allocated"] - b["bytes_allocated"]) ** 2 /
                                  (9 * (a["bytes_allocated"] + b["bytes_allocated"])))

            # The adjacent pairs of top sites that sampling at this interval can tell apart: a
            # sampled report must order these as the full one does (ties may come either way).
            resolvable = [(site_of(a), site_of(b)) for a, b in zip(tops, tops[1:])
                          if interval_3sd(a, b) >= int(args.sample_bytes)]

            def resolvable_in_order(rep):
                sampled_bytes = {site_of(l): l["bytes_allocated"] for l in rep["lines"]}
                return all(sampled_bytes.get(a, 0) > sampled_bytes.get(b, 0)
                           for a, b in resolvable)

            sampled = report_of(sorted(rows["sampled"][-1]["files"])[0])
            res["sampled_top_sites_match"] = top_sites(sampled)[:len(full_top)] == full_top
            res["resolvable_pairs"] = [len(resolvable), len(tops) - 1]
            matches = resolvable_matches = 0
            for seed in range(1, args.seeds + 1):
                out = os.path.join(tmp, f"{name}.seed{seed}")
                os.makedirs(out)
                env = dict(base_env, LD_PRELOAD=preload, HEAPLINE_OUTPUT=f"{out}/t.%p.trace",
                           HEAPLINE_SAMPLE_BYTES=args.sample_bytes,
                           HEAPLINE_SAMPLE_SEED=str(seed))
                run_tree(argv, stdin_path, env)
                rep = report_of(os.path.join(out, sorted(os.listdir(out))[0]))
                matches += top_sites(rep)[:len(full_top)] == full_top
                resolvable_matches += resolvable_in_order(rep)
            res["sampled_top_sites_seeds"] = [matches, args.seeds]
            res["resolvable_pairs_seeds"] = [resolvable_matches, args.seeds]
            res["top_pairs_3sd_interval"] = [
                (round(100 * a["bytes_allocated"] / total, 2),
                 round(100 * b["bytes_allocated"] / total, 2), interval_3sd(a, b))
                for a, b in zip(tops, tops[1:])]
        results[name] = res
        print_row(name, res, modes)
        sys.stdout.flush()
    shutil.rmtree(tmp, ignore_errors=True)
    with open(os.path.join(tempfile.gettempdir(), "heapline-bench.json"), "w") as f:
        json.dump(results, f, indent=2)


def sampling_pairs(argv, stdin_path, base_env, preload, args, out, allocs):
    """Sampled against untraced as --sample-pairs pairs, alternating which runs first; returns
    the medians of the paired ratios and differences (the traces are deleted as they come)."""
    os.makedirs(out)
    sampled_env = dict(base_env, LD_PRELOAD=preload, HEAPLINE_OUTPUT=f"{out}/t.%p.trace",
                       HEAPLINE_SAMPLE_BYTES=args.sample_bytes)
    ratios, added, cpu = [], [], []
    for i in range(args.sample_pairs):
        runs = {}
        for mode in (["untraced", "sampled"] if i % 2 == 0 else ["sampled", "untraced"]):
            runs[mode] = run_tree(argv, stdin_path, sampled_env if mode == "sampled" else base_env)
            for f in os.listdir(out):
                os.unlink(os.path.join(out, f))
        ratios.append(runs["sampled"][0] / runs["untraced"][0])
        added.append((runs["sampled"][0] - runs["untraced"][0]) / max(allocs, 1) * 1e6)
        cpu.append(runs["sampled"][1])
    return {"slowdown": statistics.median(ratios), "added_us_per_alloc": statistics.median(added),
            "cpu_s": statistics.median(cpu), "pairs": args.sample_pairs}


def print_row(name, r, modes):
    if name and not getattr(print_row, "header", False):
        print("| workload | allocs | mode | slowdown | added us/alloc | cpu s (untraced) | "
              "profiler RSS MiB | trace B/alloc | analysis Malloc/s |")
        print("|---|---|---|---|---|---|---|---|---|")
        print_row.header = True
    for mode in modes[1:]:
        m = r[mode]
        analysis = r["analysis_allocs_per_s"].get("heaptrack_print" if mode == "heaptrack"
                                                  else "heapline", 0) if mode != "sampled" else 0
        note = ""
        if mode == "sampled":
            note = " (top sites in order: " + ("yes" if r.get("sampled_top_sites_match") else "NO")
            if r.get("sampled_top_sites_seeds", [0, 0])[1]:
                note += ", in %d/%d seeds" % tuple(r["sampled_top_sites_seeds"])
                note += "; the %d of %d adjacent pairs 3 sd apart: in order in %d/%d seeds" % (
                    *r["resolvable_pairs"], *r["resolvable_pairs_seeds"])
            note += ")"
        analysis_cell = f"{analysis / 1e6:.2f}" if analysis else "–"
        if math.isnan(m["slowdown"]):  # the profiler failed: only what it left behind
            print(f"| {name} | {r['allocations']} | {mode} | failed | | | | "
                  f"({m['trace_bytes_per_alloc']:.2f}, cut short) | {analysis_cell} |")
            continue
        slowdown = f"{m['slowdown']:.2f}x"
        if "slowdown_in_rounds" in m:
            slowdown += f" (rounds {m['slowdown_in_rounds']:.2f}x)"
        print(f"| {name} | {r['allocations']} | {mode}{note} | {slowdown} | "
              f"{m['added_us_per_alloc']:.3f} | {m['cpu_s']:.2f} ({r['untraced_cpu_s']:.2f}) | "
              f"{m['profiler_rss_mib']:.1f} | {m['trace_bytes_per_alloc']:.2f} | "
              f"{analysis_cell} |")
    if "sampled" in r and "slowdown_in_rounds" in r["sampled"]:
        print(f"#   {name}: sampled slowdown from {r['sampled']['pairs']} (untraced, sampled) "
              f"pairs; in the rounds it was {r['sampled']['slowdown_in_rounds']:.2f}x")
    for a, b, interval in r.get("top_pairs_3sd_interval", []):
        print(f"#   {name}: top sites at {a}% and {b}% of bytes are 3 sd apart at intervals "
              f"up to {interval} B")


if __name__ == "__main__":
    main()
