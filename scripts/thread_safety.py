#!/usr/bin/env python3
"""Clang's thread-safety analysis over every C++ file of a build.

Compiles each translation unit in BUILD_DIR/compile_commands.json (the
GCC build's will do) with clang++ -fsyntax-only -Wthread-safety
-Werror=thread-safety: the analysis runs in clang's front end, so this
checks every ABSL_GUARDED_BY / ABSL_EXCLUSIVE_LOCKS_REQUIRED annotation
without generating code. Exits 1 if any file has a finding (each printed),
2 if a file does not compile under clang. Other clang warnings are not
this check's business (GCC's -Wall -Wextra are the ones kept clean).

Usage: scripts/thread_safety.py [BUILD_DIR] [-j JOBS]
"""
import argparse
import json
import os
import shlex
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor

# GCC-only options clang would warn about or reject.
GCC_ONLY = ("-Wno-maybe-uninitialized",)


def clang_command(entry):
    args = entry.get("arguments") or shlex.split(entry["command"])
    if os.path.basename(args[0]) in ("ccache", "sccache"):
        args = args[1:]
    out = ["clang++"]
    skip = False
    for a in args[1:]:
        if skip:
            skip = False
            continue
        if a == "-o":
            skip = True
            continue
        if a == "-c" or a in GCC_ONLY:
            continue
        out.append(a)
    return out + ["-fsyntax-only", "-Wthread-safety", "-Werror=thread-safety"]


def check(entry):
    p = subprocess.run(clang_command(entry), cwd=entry["directory"], capture_output=True, text=True)
    return entry["file"], p.returncode, p.stderr


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("build_dir", nargs="?", default="build")
    parser.add_argument("-j", type=int, default=os.cpu_count() or 2)
    args = parser.parse_args()
    with open(os.path.join(args.build_dir, "compile_commands.json")) as f:
        entries = [e for e in json.load(f) if e["file"].endswith(".cpp")]
    findings = broken = 0
    with ThreadPoolExecutor(args.j) as pool:
        for name, rc, err in pool.map(check, entries):
            if rc == 0:
                continue
            if "-Wthread-safety" in err:
                findings += 1
            else:
                broken += 1
            print(f"== {name}\n{err}", flush=True)
    print(f"thread-safety: {len(entries)} files, {findings} with findings, {broken} not compiling under clang")
    return 1 if findings else 2 if broken else 0


if __name__ == "__main__":
    sys.exit(main())
