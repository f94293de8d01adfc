#!/usr/bin/env python3
"""The client suites' results table (issue 17): reads the JUnit XML the last `make
integration` wrote for tests/clients on each backend (build/client-results/<backend>.xml)
and writes the suite x backend table to tests/clients/RESULTS.md and into README.md
between its client-results markers. Never written by hand: run `make client-results`
after the suites, or let `make integration` do it.

  scripts/client_results.py [--dir build/client-results] [--readme README.md]
"""

from __future__ import annotations

import argparse
import datetime
import os
import re
import subprocess
import sys
import xml.etree.ElementTree as ET
from collections import defaultdict

BEGIN, END = "<!-- client-results:begin -->", "<!-- client-results:end -->"
SUITES = {  # module -> what it runs
    "test_smoke": "the tools and their images",
    "test_act": "GitHub Actions workflows through act",
    "test_gitlab_ci_local": "GitLab CI pipelines through gitlab-ci-local",
    "test_runner_replays": "GitLab Runner / actions/runner API replays",
    "test_compose_v5": "Docker Compose v5",
    "test_testcontainers": "Testcontainers (Python, Go, Node)",
}


def tally(path: str) -> dict[str, dict[str, int]]:
    """module -> {passed, failed, skipped, xfailed}"""
    counts: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    for case in ET.parse(path).getroot().iter("testcase"):
        module = case.get("classname", "").split(".")[-1] or case.get("file", "?")
        module = module.split("[")[0]
        kinds = {child.tag: child for child in case}
        if "failure" in kinds or "error" in kinds:
            counts[module]["failed"] += 1
        elif "skipped" in kinds:
            xfail = kinds["skipped"].get("type", "") == "pytest.xfail"
            counts[module]["xfailed" if xfail else "skipped"] += 1
        else:
            counts[module]["passed"] += 1
    return counts


def cell(c: dict[str, int]) -> str:
    if not c:
        return "not run"
    parts = [f"{c.get('passed', 0)} passed"]
    for k in ("failed", "xfailed", "skipped"):
        if c.get(k):
            parts.append(f"{c[k]} {k}")
    return ", ".join(parts)


def table(results: dict[str, dict[str, dict[str, int]]]) -> str:
    backends = sorted(results)
    modules = sorted({m for r in results.values() for m in r},
                     key=lambda m: (list(SUITES).index(m) if m in SUITES else 99, m))
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True,
                            text=True).stdout.strip() or "?"
    when = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d")
    lines = [f"Client suites on each backend, from the run of {when} at {commit} "
             "(`scripts/client_results.py`, not written by hand):", "",
             "| suite | " + " | ".join(backends) + " |",
             "| --- | " + " | ".join("---" for _ in backends) + " |"]
    for m in modules:
        name = f"`{m}` ({SUITES[m]})" if m in SUITES else f"`{m}`"
        lines.append(f"| {name} | " + " | ".join(cell(results[b].get(m, {})) for b in backends)
                     + " |")
    return "\n".join(lines) + "\n"


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--dir", default="build/client-results")
    ap.add_argument("--readme", default="README.md")
    ap.add_argument("--out", default="tests/clients/RESULTS.md")
    a = ap.parse_args()
    results = {}
    for f in sorted(os.listdir(a.dir)) if os.path.isdir(a.dir) else []:
        if f.endswith(".xml"):
            results[f[:-4]] = tally(os.path.join(a.dir, f))
    if not results:
        print(f"client_results: no results in {a.dir}", file=sys.stderr)
        return 1
    text = table(results)
    with open(a.out, "w") as f:
        f.write("# Client suites\n\n" + text)
    readme = open(a.readme).read()
    if BEGIN in readme and END in readme:
        readme = re.sub(re.escape(BEGIN) + ".*?" + re.escape(END),
                        lambda _: BEGIN + "\n" + text + END, readme, flags=re.S)
        with open(a.readme, "w") as f:
            f.write(readme)
    print(text, end="")
    return 0


if __name__ == "__main__":
    sys.exit(main())
