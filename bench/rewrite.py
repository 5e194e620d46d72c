"""Rewrite benchmark: one target in files of 1k, 10k and 100k lines.

Files are real code (the pinned corpus of scripts/corpus.sh, concatenated to
size) with the target at the end. Wall time including process start, min of N interleaved runs, side by side with
two peers on the same files in the same run:
  - ruff check --no-cache --select B019 (a native parser + one rule, no rewrite),
  - a LibCST codemod that adds a decorator to the same function (parse, transform,
    print: what a Python rewriting tool costs).
Run it with scripts/bench-rewrite.sh (which builds --release and the venv).
"""
import os
import subprocess
import sys
import tempfile
import time

RUNS = int(os.environ.get("BENCH_RUNS", "10"))
SIZES = [1_000, 10_000, 100_000]

TARGET = """

async def get_user(session: AsyncSession, user_id: int, page: int = 1):
    result = await session.execute(select(User).where(User.id == user_id).offset(page))
    return result.scalar_one_or_none()
"""


LIBCST = r'''
import sys, libcst as cst
class Add(cst.CSTTransformer):
    def leave_FunctionDef(self, node, updated):
        if node.name.value != sys.argv[2]:
            return updated
        deco = cst.Decorator(cst.parse_expression('cache(ttl="1h", key="m:f:{user_id}")'))
        return updated.with_changes(decorators=[*updated.decorators, deco])
src = open(sys.argv[1]).read()
sys.stdout.write(cst.parse_module(src).visit(Add()).code[:0])
'''


def make_file(lines: int, path: str, corpus: str) -> int:
    """Real code: whole files of the corpus (sqlalchemy, django, ...) concatenated
    to the size, then the target function at the end."""
    parts, count = [], 0
    for root, dirs, files in sorted(os.walk(corpus)):
        dirs.sort()
        for name in sorted(files):
            if count >= lines or not name.endswith(".py"):
                continue
            with open(os.path.join(root, name), encoding="utf-8") as fh:
                text = fh.read()
            # `from __future__` must stay first in a file: drop it from the middle.
            kept = [l for l in text.splitlines() if not l.startswith("from __future__")]
            parts.append("\n".join(kept) + "\n")  # whole files only: a cut could break syntax
            count += len(kept)
    with open(path, "w", encoding="utf-8") as fh:
        fh.write("".join(parts) + TARGET)
    return count + TARGET.count("\n")


def best(cmd) -> float:
    start = time.perf_counter()
    out = subprocess.run(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    took = time.perf_counter() - start
    if out.returncode not in (0, 1):
        sys.exit(f"{cmd[0]} failed: {out.stderr.decode()[:400]}")
    return took


def main() -> None:
    binary, venv_bin, corpus = sys.argv[1], sys.argv[2], sys.argv[3]
    tools = {
        "cashews-add": lambda f, t: [binary, f"{f}::{t}"],
        "ruff B019": lambda f, t: [f"{venv_bin}/ruff", "check", "--no-cache", "--select", "B019", "--quiet", f],
        "LibCST codemod": lambda f, t: [f"{venv_bin}/python", "-c", LIBCST, f, t],
    }
    print(f"| lines | {' | '.join(tools)} |")
    print("|" + " --- |" * (len(tools) + 1))
    with tempfile.TemporaryDirectory() as tmp:
        for lines in SIZES:
            # One folder per size: the setup search must not see the other files.
            os.makedirs(os.path.join(tmp, str(lines)))
            path = os.path.join(tmp, str(lines), "m.py")
            actual = make_file(lines, path, corpus)
            target = "get_user"
            times = {name: float("inf") for name in tools}
            for _ in range(RUNS):  # interleaved: each round runs every tool once
                for name, cmd in tools.items():
                    times[name] = min(times[name], best(cmd(path, target)))
            cells = " | ".join(f"{times[n] * 1000:.1f} ms" for n in tools)
            print(f"| {actual:,} | {cells} |", flush=True)


TREE_TARGET = """import httpx


async def fetch(url: str) -> dict:
    async with httpx.AsyncClient() as client:
        response = await client.get(url)
        return response.json()
"""


def tree_case(binary: str, venv_bin: str, corpus_root: str) -> None:
    """One function in a 0.5M-line project (the whole pinned corpus under one
    pyproject.toml): the project model, the effect follow-through and the
    setup search all run over the tree; ruff checks the whole tree."""
    import shutil

    with tempfile.TemporaryDirectory() as tmp:
        tree = os.path.join(tmp, "tree")
        shutil.copytree(corpus_root, tree, ignore=shutil.ignore_patterns(".stamp"))
        with open(os.path.join(tree, "pyproject.toml"), "w") as fh:
            fh.write('[project]\nname = "big"\nversion = "0.1.0"\n')
        with open(os.path.join(tree, "t.py"), "w") as fh:
            fh.write(TREE_TARGET)
        lines = 0
        for root, _, files in os.walk(tree):
            for name in files:
                if name.endswith(".py"):
                    with open(os.path.join(root, name), "rb") as fh:
                        lines += fh.read().count(b"\n")
        target = os.path.join(tree, "t.py") + "::fetch"
        tools = {
            "cashews-add (with setup search)": [binary, target],
            "cashews-add --no-setup": [binary, "--no-setup", target],
            "ruff B019, whole tree": [f"{venv_bin}/ruff", "check", "--no-cache", "--select", "B019", "--quiet", tree],
        }
        times = {name: float("inf") for name in tools}
        for _ in range(RUNS):
            for name, cmd in tools.items():
                times[name] = min(times[name], best(cmd))
        print()
        print(f"| one target in a tree of {lines:,} lines | {' | '.join(tools)} |")
        print("|" + " --- |" * (len(tools) + 1))
        cells = " | ".join(f"{times[n] * 1000:.1f} ms" for n in tools)
        print(f"| wall, min of {RUNS} | {cells} |", flush=True)


if __name__ == "__main__":
    main()
    if len(sys.argv) > 4:
        tree_case(sys.argv[1], sys.argv[2], sys.argv[4])
