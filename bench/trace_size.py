#!/usr/bin/env python3
"""Trace bytes per allocation, heapline against heaptrack, on run_bench.py's workloads.

One traced run per tool and workload (sizes barely vary between runs). Allocations are counted
by `heapline report`; heapline's size is the trace's disk blocks (st_blocks, as run_bench.py),
heaptrack's its .zst file. With --keep DIR the heapline traces stay there (for
trace_breakdown). Extra recorder settings go through the environment (HEAPLINE_ZSTD_LEVEL ...).
Usage: bench/trace_size.py [--build build] [--only churn1,sqlite3] [--keep DIR] [--no-heaptrack]
"""
import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from run_bench import du_bytes, run_tree, workloads  # noqa: E402


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--build", default=os.path.join(os.path.dirname(__file__), "..", "build"))
    ap.add_argument("--only", default="churn1,containers,sqlite3,python3")
    ap.add_argument("--keep", default="")
    ap.add_argument("--no-heaptrack", action="store_true")
    args = ap.parse_args()
    build = os.path.abspath(args.build)
    tmp = tempfile.mkdtemp(prefix="heapline-size-")
    print("| workload | allocs | heapline B/alloc | heaptrack B/alloc |")
    print("|---|---|---|---|")
    for name, (argv, stdin_path, extra_env) in workloads(build, tmp).items():
        if name not in args.only.split(","):
            continue
        out = os.path.join(tmp, name)
        os.makedirs(out)
        env = dict(os.environ, **extra_env, LD_PRELOAD=f"{build}/lib/libheapline_preload.so",
                   HEAPLINE_OUTPUT=f"{out}/t.%p.trace")
        run_tree(argv, stdin_path, env)
        traces = sorted(os.path.join(out, f) for f in os.listdir(out))
        report = json.loads(subprocess.run([f"{build}/bin/heapline", "report", "--json", traces[0]],
                                           capture_output=True, check=True).stdout)
        allocs = max(report["summary"]["allocations"], 1)
        hl = du_bytes(traces) / allocs
        ht = float("nan")
        if not args.no_heaptrack:
            htdir = os.path.join(tmp, name + ".ht")
            os.makedirs(htdir)
            run_tree(["heaptrack", "-o", f"{htdir}/ht"] + list(argv), stdin_path,
                     dict(os.environ, **extra_env))
            zst = [os.path.join(htdir, f) for f in os.listdir(htdir) if f.endswith(".zst")]
            ht = os.path.getsize(zst[0]) / allocs
        print(f"| {name} | {allocs} | {hl:.3f} | {ht:.3f} |", flush=True)
        if args.keep:
            os.makedirs(args.keep, exist_ok=True)
            for i, t in enumerate(traces):
                shutil.copy(t, os.path.join(args.keep, f"{name}.{i}.trace"))
    shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
