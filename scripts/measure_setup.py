"""Measures setup placement on the labelled real-world set (fixtures/real/).

    measure_setup.py DIR BINARY [--repo NAME]

For each repository of repos.tsv: copies its checkout DIR/REPO to a temporary
folder (the checkout is never written), runs the rewrite with --write --force
on one labelled target (the first SAFE one of functions.tsv, else of
lint.tsv; the next one when the rewrite caches nothing), and compares where the setup went (or was found) with
the `setup` label:

- `path::Qual.name`: the setup line is in that def (nested defs are named
  without `<locals>`), or it is in a new lifespan the def passes to the app
  it builds (`lifespan=NAME` on a line of the def), or in a def that awaits
  the labelled one (`await _startup()` in a lifespan: the same moment);
- `path::<module>`: the setup line is at module level of that file;
- `library`: no global setup is added.

Prints right/wrong per repository with what the tool did, and the total.
"""

import ast
import csv
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
REAL = os.path.join(HERE, "..", "fixtures", "real")


def rows(name):
    with open(os.path.join(REAL, name), newline="") as f:
        return list(csv.DictReader(f, delimiter="\t"))


def targets_of(repo):
    """The SAFE targets of functions.tsv, then the targets of lint.tsv."""
    out = [r["target"] for r in rows("functions.tsv") if r["repo"] == repo and r["label"] == "SAFE"]
    out += [r["target"] for r in rows("lint.tsv") if r["repo"] == repo and r["target"] != "-"]
    return out


def setup_of(binary, source, name, targets):
    """The setup report of the first target that is cached (at most five
    tried), and the folder of that run's copy (inside the returned TemporaryDirectory)."""
    for target in targets[:5]:
        tmp = tempfile.TemporaryDirectory()
        work = os.path.join(tmp.name, name)
        shutil.copytree(source, work, symlinks=True, ignore=shutil.ignore_patterns(".git"))
        out = subprocess.run(
            [binary, target, "--write", "--force", "--format", "json"],
            cwd=work,
            capture_output=True,
            text=True,
            timeout=300,
            env={**os.environ, "HOME": tmp.name},
        )
        try:
            setup = json.loads(out.stdout).get("setup", {})
        except json.JSONDecodeError:
            setup = {"error": (out.stderr.strip().splitlines() or ["?"])[-1]}
        if setup.get("status") != "skipped":
            return setup, tmp, work
        tmp.cleanup()
    return setup, None, None


def defs(tree):
    """(dotted name, first line, last line) of every def and class, nested too."""
    out = []

    def walk(node, prefix):
        for child in ast.iter_child_nodes(node):
            if isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
                name = prefix + child.name
                first = min([child.lineno] + [d.lineno for d in child.decorator_list])
                out.append((name, first, child.end_lineno))
                walk(child, name + ".")
            else:
                walk(child, prefix)

    walk(tree, "")
    return out


DEF = re.compile(r"^(\s*)(?:async\s+)?(?:def|class)\s+(\w+)")


def defs_by_indent(text):
    """`defs` for a file this Python cannot parse (newer syntax): by indentation."""
    lines = text.splitlines()
    out, stack = [], []
    for i, line in enumerate(lines, 1):
        if not line.strip():
            continue
        indent = len(line) - len(line.lstrip())
        while stack and indent <= stack[-1][0] and not line.lstrip().startswith((")", "]")):
            depth, name, first = stack.pop()
            out.append((name, first, last_line(lines, i)))
        m = DEF.match(line)
        if m:
            prefix = stack[-1][1] + "." if stack else ""
            stack.append((len(m.group(1)), prefix + m.group(2), i))
    while stack:
        depth, name, first = stack.pop()
        out.append((name, first, len(lines)))
    return out


def last_line(lines, before):
    """The last non-blank line above line `before` (1-based)."""
    i = before - 1
    while i > 1 and not lines[i - 1].strip():
        i -= 1
    return i


def judge(label, setup, work):
    if label == "library":
        return setup.get("status") != "added"
    path, hook = label.split("::", 1)
    if setup.get("file") != path or not setup.get("line"):
        return False
    line = setup["line"]
    text = open(os.path.join(work, path), encoding="utf-8").read()
    try:
        spans = defs(ast.parse(text))
    except SyntaxError:
        spans = defs_by_indent(text)
    inside = [(n, a, b) for n, a, b in spans if a <= line <= b]
    if hook == "<module>":
        return not any(n for n, a, b in inside)
    if any(n == hook for n, a, b in inside):
        return True
    # A def that awaits the labelled hook (a lifespan running `await
    # _startup()`): the setup runs at the same moment, beside its close.
    if inside:
        name, a, b = min(inside, key=lambda s: s[2] - s[1])
        body = text.splitlines()[a - 1 : b]
        leaf = hook.rsplit(".", 1)[-1]
        if any(re.search(rf"\bawait {re.escape(leaf)}\(", l) for l in body):
            return True
    # A new lifespan defined next to the labelled factory and passed by it.
    if setup.get("place") == "new_lifespan" and inside:
        lifespan = min(inside, key=lambda s: s[2] - s[1])[0]
        for n, a, b in spans:
            if n == hook:
                lines = text.splitlines()[a - 1 : b]
                return any(f"lifespan={lifespan}" in l for l in lines)
    return False


def main():
    args = sys.argv[1:]
    only = None
    if "--repo" in args:
        i = args.index("--repo")
        only = args[i + 1]
        del args[i : i + 2]
    checkouts, binary = args
    binary = os.path.abspath(binary)
    right = total = 0
    for repo in rows("repos.tsv"):
        name, label = repo["repo"], repo["setup"]
        if only and name != only:
            continue
        targets = targets_of(name)
        source = os.path.join(checkouts, name)
        if not targets or not os.path.isdir(source):
            print(f"skip   {name}: no target or no checkout")
            continue
        setup, tmp, work = setup_of(binary, source, name, targets)
        ok = "error" not in setup and work is not None and judge(label, setup, work)
        if tmp:
            tmp.cleanup()
        total += 1
        right += ok
        got = setup.get("error") or (
            f"{setup.get('status')} {setup.get('file')}:{setup.get('line')} {setup.get('place')}"
        )
        print(f"{'right' if ok else 'wrong':6} {name}: label {label}; got {got}")
    print(f"setup placement: {right}/{total} right")


if __name__ == "__main__":
    main()
