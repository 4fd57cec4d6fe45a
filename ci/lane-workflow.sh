#!/usr/bin/env bash
# Lane: offline checks of .github/workflows/ci.yml: it parses as YAML, names
# every OS of the matrix, and every ci/ script it runs exists here.
set -euo pipefail
cd "$(dirname "$0")/.."
/usr/bin/python3 - <<'PY'
import os, re, sys, yaml
path = ".github/workflows/ci.yml"
with open(path, encoding="utf-8") as f:
    text = f.read()
doc = yaml.safe_load(text)
jobs = doc.get("jobs") or {}
problems = []
runners = " ".join(str(j.get("runs-on", "")) + " " + str(j.get("name", "")) for j in jobs.values())
for os_name in ["ubuntu", "macos", "freebsd", "windows"]:
    if os_name not in runners:
        problems.append(f"no job for {os_name}")
if not any("MSVC" in str(j.get("name", "")) for j in jobs.values()):
    problems.append("no Windows MSVC job")
if not any("MinGW" in str(j.get("name", "")) for j in jobs.values()):
    problems.append("no Windows MinGW job")
lanes = set()
for j in jobs.values():
    for lane in (j.get("strategy", {}).get("matrix", {}) or {}).get("lane", []):
        lanes.add(f"ci/lane-{lane}.sh")
scripts = set(re.findall(r"ci/[A-Za-z0-9_.-]+\.sh", text)) | lanes
scripts.discard("ci/lane-.sh")
for s in sorted(scripts):
    if not os.path.isfile(s):
        problems.append(f"{s} is run by the workflow but does not exist")
for p in problems:
    print("workflow:", p)
if problems:
    sys.exit(1)
print(f"workflow: {path} parses; {len(jobs)} jobs; scripts present: {', '.join(sorted(scripts))}")
PY
