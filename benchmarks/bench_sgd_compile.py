"""Compiling an SGD train split vs plain `json.load` of the same files, on one core.

    .venv/bin/python benchmarks/bench_sgd_compile.py                      # a generated 16,000-dialogue train split
    .venv/bin/python benchmarks/bench_sgd_compile.py /data/dstc8-schema-guided-dialogue   # the real dataset

Target: compile (read, check, build every sample, write the JSONL) takes at most 2x the time of `json.load` of the
same dialogue files. Without a path, examples/sgd/make_corpus.py writes a train split of the real one's shape
(16,000 dialogues in 125 files of 128, about 19 turns each) into a temporary folder. Baseline and compile alternate
for --repeats rounds; the best time of each counts (the machine is shared). Both wall-clock and process CPU time are
reported; the output file is fsync'ed (as every teachkit output is) and its cost is in the wall time. Compile
pauses the cyclic garbage collector while it runs (parsed dialogues hold no cycles); the ratio against a json.load
with the collector paused as well is printed too.
"""

from __future__ import annotations

import argparse
import gc
import importlib.util
import json
import os
import platform
import shutil
import sys
import tempfile
import time
from pathlib import Path

from teachkit.sgd.compile import CompileOptions, compile_samples

ROOT = Path(__file__).resolve().parents[1]


def generate(folder: Path, dialogues: int) -> None:
    spec = importlib.util.spec_from_file_location("make_corpus", ROOT / "examples" / "sgd" / "make_corpus.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules["make_corpus"] = module
    spec.loader.exec_module(module)
    module.main(["--out", str(folder), "--train", str(dialogues), "--dev", "0", "--test", "0", "--per-file", "128"])


def timed(function) -> tuple[float, float]:
    gc.collect()
    wall, cpu = time.perf_counter(), time.process_time()
    function()
    return time.perf_counter() - wall, time.process_time() - cpu


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("sgd_root", nargs="?", type=Path, help="an SGD folder (default: generate one)")
    parser.add_argument("--dialogues", type=int, default=16_000, help="dialogues to generate (no sgd_root)")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--keep", action="store_true", help="keep the generated corpus and the output")
    args = parser.parse_args()

    work = Path(tempfile.mkdtemp(prefix="bench-sgd-"))
    try:
        root = args.sgd_root
        if root is None:
            root = work / "sgd"
            started = time.perf_counter()
            generate(root, args.dialogues)
            print(f"generated {args.dialogues:,} dialogues in {time.perf_counter() - started:.1f} s")
        files = sorted((root / "train").glob("dialogues_*.json"))
        size = sum(path.stat().st_size for path in files)
        out = work / "train.jsonl"

        def baseline() -> None:
            for path in files:
                with path.open("rb") as handle:
                    json.load(handle)

        def baseline_gc_paused() -> None:
            gc.disable()
            try:
                baseline()
            finally:
                gc.enable()

        def compile_split() -> None:
            compile_samples(root, out, CompileOptions(splits=["train"]), overwrite=True)

        steps = (("json.load", baseline), ("json.load, gc paused", baseline_gc_paused), ("compile", compile_split))
        best = {name: (float("inf"), float("inf")) for name, _ in steps}
        for _ in range(args.repeats):
            for name, function in steps:
                wall, cpu = timed(function)
                best[name] = (min(best[name][0], wall), min(best[name][1], cpu))
        result = compile_samples(root, out, CompileOptions(splits=["train"]), overwrite=True)

        print(f"input: {len(files)} files, {size / 1e6:,.0f} MB, {result.report.dialogues:,} dialogues "
              f"({'generated' if args.sgd_root is None else root})")
        print(f"output: {result.samples:,} samples, {out.stat().st_size / 1e6:,.0f} MB, "
              f"{result.duplicates:,} duplicates removed")
        print(f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} cores, "
              f"python {platform.python_version()}")
        print()
        print("| step | wall s | cpu s |")
        print("| --- | --- | --- |")
        for name, (wall, cpu) in best.items():
            print(f"| {name} | {wall:.2f} | {cpu:.2f} |")
        wall_ratio = best["compile"][0] / best["json.load"][0]
        cpu_ratio = best["compile"][1] / best["json.load"][1]
        print()
        print(f"ratio compile / json.load: wall {wall_ratio:.2f}x, cpu {cpu_ratio:.2f}x (target <= 2x)")
        paused = best["json.load, gc paused"]
        print(f"(compile / json.load with the garbage collector paused too, as compile runs: "
              f"wall {best['compile'][0] / paused[0]:.2f}x, cpu {best['compile'][1] / paused[1]:.2f}x)")
        if args.keep:
            print(f"kept in {work}")
    finally:
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
