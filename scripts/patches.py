#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0-only
"""make patches: our kernel changes as a git format-patch series.

  patches.py generate   cut the overlay and patches/ into the series that
                        patches/split describes, in build/patches/series/
                        (one commit per block on the pristine files it
                        touches, Signed-off-by the identity of the
                        repository's last commit)
  patches.py checkpatch run checkpatch.pl --strict on each patch
  patches.py am         apply the series with git am to a fresh git copy of
                        the whole pristine tree, and check that the result
                        is byte-identical to build/src, what make kernel
                        builds from (run make kernel first)

Each prints one PASS/FAIL line per check and exits 1 on any failure.
"""

import os
import re
import shutil
import subprocess
import sys

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BUILD = os.path.join(REPO, "build")
PRISTINE = os.path.join(BUILD, "linux-6.12")
SRC = os.path.join(BUILD, "src")
OUT = os.path.join(BUILD, "patches")
SERIES = os.path.join(OUT, "series")
OVERLAY_DIRS = ("mm", "drivers", "include")


def run(cmd, cwd, env=None, check=True):
    p = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True)
    if check and p.returncode:
        raise SystemExit(f"{' '.join(cmd)} (in {cwd}) failed:\n{p.stdout}{p.stderr}")
    return p


def owned_files():
    """Files we own whole, as kernel.sh overlays them."""
    out = []
    for d in OVERLAY_DIRS:
        for root, _, files in os.walk(os.path.join(REPO, d)):
            for f in files:
                if f.endswith(".o") or (f.startswith(".") and f != ".kunitconfig"):
                    continue
                out.append(os.path.relpath(os.path.join(root, f), REPO))
    return sorted(out)


def series_patches():
    names = []
    with open(os.path.join(REPO, "patches", "series")) as f:
        for line in f:
            line = line.split("#", 1)[0].strip()
            if line:
                names.append(line)
    return names


def read_split():
    """The blocks of patches/split: subject, files, patches, description."""
    blocks, cur = [], None
    with open(os.path.join(REPO, "patches", "split")) as f:
        lines = f.read().splitlines()
    for line in lines:
        if line.startswith("subject:"):
            cur = {"subject": line[8:].strip(), "files": [], "patches": [], "body": []}
            blocks.append(cur)
        elif cur is None:
            continue
        elif not cur["body"] and line.startswith("files:"):
            cur["files"] = line[6:].split()
        elif not cur["body"] and line.startswith("patches:"):
            cur["patches"] = line[8:].split()
        else:
            cur["body"].append(line)
    for b in blocks:
        b["body"] = "\n".join(b["body"]).strip()
    return blocks


def check_split(blocks):
    """Every owned file and every patch of the series, exactly once."""
    errors = []
    named = [f for b in blocks for f in b["files"]]
    applied = [p for b in blocks for p in b["patches"]]
    for what, got, want in (("file", named, owned_files()),
                            ("patch", applied, series_patches())):
        for x in sorted(set(got) | set(want)):
            n = got.count(x)
            if x not in want:
                errors.append(f"patches/split names {what} {x}, which is not ours")
            elif n != 1:
                errors.append(f"patches/split names {what} {x} {n} times, not once")
    for b in blocks:
        if not b["body"]:
            errors.append(f"'{b['subject']}' has no description")
    return errors


def patch_targets(patch):
    with open(os.path.join(REPO, "patches", patch)) as f:
        return re.findall(r"^\+\+\+ b/(\S+)", f.read(), re.M)


def identity():
    p = run(["git", "log", "-1", "--format=%an%n%ae"], REPO)
    name, email = p.stdout.strip().split("\n")
    return name, email


def git_env(name, email):
    env = dict(os.environ)
    env.update(GIT_AUTHOR_NAME=name, GIT_AUTHOR_EMAIL=email,
               GIT_COMMITTER_NAME=name, GIT_COMMITTER_EMAIL=email,
               GIT_AUTHOR_DATE="2026-01-01T00:00:00Z",
               GIT_COMMITTER_DATE="2026-01-01T00:00:00Z")
    return env


def generate():
    blocks = read_split()
    errors = check_split(blocks)
    if errors:
        for e in errors:
            print(f"FAIL split: {e}")
        return 1
    name, email = identity()
    env = git_env(name, email)
    work = os.path.join(OUT, "work")
    shutil.rmtree(OUT, ignore_errors=True)
    os.makedirs(work)
    # The pristine version of every file the series touches is all that a
    # commit of it needs: format-patch output depends on nothing else.
    touched = set(f for b in blocks for f in b["files"])
    touched |= set(t for b in blocks for p in b["patches"] for t in patch_targets(p))
    for f in sorted(touched):
        src = os.path.join(PRISTINE, f)
        if os.path.exists(src):
            os.makedirs(os.path.dirname(os.path.join(work, f)), exist_ok=True)
            shutil.copy2(src, os.path.join(work, f))
    run(["git", "init", "-q"], work)
    run(["git", "add", "-A", "-f"], work)
    run(["git", "commit", "-q", "-m", "base: linux-source-6.12"], work, env)
    for b in blocks:
        for f in b["files"]:
            os.makedirs(os.path.dirname(os.path.join(work, f)), exist_ok=True)
            shutil.copy2(os.path.join(REPO, f), os.path.join(work, f))
        for p in b["patches"]:
            r = run(["patch", "-p1", "--batch", "--forward", "--fuzz=0",
                     "--no-backup-if-mismatch", "-r", "-", "-i",
                     os.path.join(REPO, "patches", p)], work, check=False)
            if r.returncode:
                print(f"FAIL generate: {p} does not apply in this order:\n{r.stdout}")
                return 1
        run(["git", "add", "-A", "-f"], work)
        msg = f"{b['subject']}\n\n{b['body']}\n\nSigned-off-by: {name} <{email}>\n"
        subprocess.run(["git", "commit", "-q", "-F", "-"], cwd=work, env=env,
                       input=msg, text=True, check=True, capture_output=True)
    run(["git", "format-patch", "-q", "--no-signature", "--zero-commit",
         "-o", SERIES, "HEAD~%d" % len(blocks)], work, env)
    print(f"PASS generate: {len(blocks)} patches in {os.path.relpath(SERIES, REPO)}")
    return 0


def series_files():
    if not os.path.isdir(SERIES):
        raise SystemExit("no series: run patches.py generate first")
    return sorted(os.path.join(SERIES, f) for f in os.listdir(SERIES) if f.endswith(".patch"))


def checkpatch():
    rc = 0
    tool = os.path.join(PRISTINE, "scripts", "checkpatch.pl")
    for p in series_files():
        r = run([tool, "--strict", "--no-tree", "--show-types", p], "/tmp", check=False)
        name = os.path.basename(p)
        if r.returncode == 0 and "total: 0 errors, 0 warnings, 0 checks" in r.stdout:
            print(f"PASS checkpatch/{name}")
        else:
            rc = 1
            first = next((l for l in r.stdout.splitlines()
                          if l.startswith(("ERROR", "WARNING", "CHECK"))), r.stdout.strip())
            print(f"FAIL checkpatch/{name}: {first}")
            sys.stderr.write(r.stdout)
    return rc


def am():
    """git am on a fresh git copy of the whole pristine tree, compared with
    build/src file by file where either differs from the base."""
    tree = os.path.join(OUT, "am")
    shutil.rmtree(tree, ignore_errors=True)
    name, email = identity()
    env = git_env(name, email)
    run(["cp", "-al", PRISTINE, tree], BUILD)
    run(["git", "init", "-q"], tree)
    run(["git", "add", "-A", "-f"], tree)
    run(["git", "commit", "-q", "-m", "base: linux-source-6.12"], tree, env)
    base = run(["git", "rev-parse", "HEAD"], tree).stdout.strip()
    r = run(["git", "am", "-q", "--whitespace=error-all"] + series_files(), tree, env,
            check=False)
    if r.returncode:
        print(f"FAIL git-am: {(r.stdout + r.stderr).strip().splitlines()[0]}")
        return 1
    changed = set(run(["git", "diff", "--name-only", base, "HEAD"], tree).stdout.split())
    with open(os.path.join(BUILD, "src.manifest")) as f:
        ours = set(f.read().split())
    diffs = [f"{f}: changed by the series only" for f in sorted(changed - ours)]
    diffs += [f"{f}: changed by make kernel only" for f in sorted(ours - changed)]
    for f in sorted(changed & ours):
        if run(["cmp", "-s", os.path.join(tree, f), os.path.join(SRC, f)], BUILD,
               check=False).returncode:
            diffs.append(f"{f}: differs")
    shutil.rmtree(tree, ignore_errors=True)
    if diffs:
        print(f"FAIL git-am-identical: {'; '.join(diffs[:5])}")
        return 1
    print(f"PASS git-am-identical: {len(changed)} files as make kernel has them")
    return 0


def main():
    modes = {"generate": generate, "checkpatch": checkpatch, "am": am}
    if len(sys.argv) != 2 or sys.argv[1] not in modes:
        raise SystemExit(__doc__)
    return modes[sys.argv[1]]()


if __name__ == "__main__":
    sys.exit(main())
