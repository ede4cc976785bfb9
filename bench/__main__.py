"""Run the benchmark workloads, print one table and write bench/results.json.

    .venv/bin/python -m bench            # every workload (what `make bench` runs)
    .venv/bin/python -m bench W3 W5      # some of them; results.json keeps the others' entries

W7 (memory) is measured during W2, so asking for either runs both.
"""

from __future__ import annotations

import argparse
import importlib
import json
import os
import platform
import sys
import time
import traceback
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bench.common import Result, Workspace

RESULTS = Path(__file__).resolve().parent / "results.json"
# workload -> module running it (a module's run() returns one Result or several)
MODULES = {
    "W1": "bench.w1_completion",
    "W2": "bench.w2_throughput",
    "W3": "bench.w3_inbox",
    "W4": "bench.w4_age",
    "W5": "bench.w5_timers",
    "W6": "bench.w6_documents",
    "W7": "bench.w2_throughput",
}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("workloads", nargs="*", metavar="W", help="W1 ... W7 (default: all)")
    parser.add_argument("--markdown", action="store_true", help="print results.json as a Markdown table, run nothing")
    args = parser.parse_args(argv)
    if args.markdown:
        print(markdown(json.loads(RESULTS.read_text())))
        return 0
    wanted = [w.upper() for w in args.workloads] or list(MODULES)
    unknown = [w for w in wanted if w not in MODULES]
    if unknown:
        parser.error(f"unknown workload(s): {', '.join(unknown)}; choose from {', '.join(MODULES)}")
    modules = list(dict.fromkeys(MODULES[w] for w in wanted))
    started = time.perf_counter()
    results: dict[str, Result] = {}
    failed: list[str] = []
    workspace = Workspace()
    try:
        for name in modules:
            print(f"running {name.removeprefix('bench.')} ...", flush=True)
            began = time.perf_counter()
            try:
                produced = importlib.import_module(name).run(workspace)
            except Exception:
                traceback.print_exc()
                failed.append(name)
                continue
            for result in produced if isinstance(produced, list) else [produced]:
                result.seconds = time.perf_counter() - began
                results[result.key] = result
                print(f"  {result.key}: {result.figure} [{'met' if result.met else 'MISSED'}]", flush=True)
    finally:
        workspace.close()
    total = time.perf_counter() - started
    print_table(results, total)
    write_results(results, total)
    if failed:
        print(f"failed: {', '.join(failed)}", file=sys.stderr)
        return 2
    return 0 if all(r.met for r in results.values()) else 1


def print_table(results: dict[str, Result], total: float) -> None:
    rows = [("", "workload", "measured (ours vs floor)", "target", "met")]
    for key in sorted(results):
        r = results[key]
        rows.append((key, r.title, r.figure, r.target, "yes" if r.met else "NO"))
    widths = [min(max(len(row[i]) for row in rows), limit) for i, limit in enumerate((3, 36, 90, 60, 3))]
    print()
    for index, row in enumerate(rows):
        cells = [_clip(cell, width).ljust(width) for cell, width in zip(row, widths, strict=True)]
        print(" | ".join(cells).rstrip())
        if index == 0:
            print("-+-".join("-" * w for w in widths))
    print(f"\n{sum(r.met for r in results.values())}/{len(results)} targets met in {total:.0f} s "
          f"({os.cpu_count()} CPUs, {platform.python_implementation()} {platform.python_version()})")


def markdown(document: dict[str, Any]) -> str:
    """The results as the README shows them."""
    lines = ["| | workload | measured (ours vs floor) | target | met |", "|---|---|---|---|---|"]
    for key, w in document["workloads"].items():
        lines.append(f"| {key} | {w['title']} | {w['figure']} | {w['target']} | {'yes' if w['met'] else '**no**'} |")
    machine = document.get("machine", {})
    lines.append("")
    lines.append(f"`{document.get('command', 'make bench')}`, {document.get('generated_at', '')}, "
                 f"{machine.get('cpus')} CPUs, Python {machine.get('python')}; whole run {document.get('seconds')} s.")
    return "\n".join(lines)


def _clip(text: str, width: int) -> str:
    return text if len(text) <= width else text[: width - 1] + "…"


def write_results(results: dict[str, Result], total: float) -> None:
    previous: dict[str, Any] = {}
    if RESULTS.exists():
        try:
            previous = json.loads(RESULTS.read_text()).get("workloads", {})
        except ValueError:
            previous = {}
    workloads = {**previous, **{key: r.as_dict() for key, r in results.items()}}
    document = {
        "generated_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "command": "make bench" + (f" W={' '.join(sorted(results))}" if len(results) < len(MODULES) else ""),
        "seconds": round(total, 1),
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version(), "platform": platform.platform()},
        "workloads": dict(sorted(workloads.items())),
    }
    RESULTS.write_text(json.dumps(document, indent=2, ensure_ascii=False) + "\n")
    print(f"wrote {RESULTS.relative_to(Path.cwd()) if RESULTS.is_relative_to(Path.cwd()) else RESULTS}")


if __name__ == "__main__":
    sys.exit(main())
