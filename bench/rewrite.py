"""Rewrite benchmark: one target in files of 1k, 10k and 100k lines.

Wall time including process start, min of N interleaved runs, side by side with
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

BLOCK = '''

async def get_user_{i}(session: AsyncSession, user_id: int, page: int = 1):
    """Fetch one user."""
    result = await session.execute(select(User).where(User.id == user_id).offset(page))
    rows = [r for r in result.scalars()]
    return {{"id": user_id, "rows": rows}}


class Service{i}:
    def __init__(self, host: str):
        self._host = host

    async def fetch(self, item: int) -> str:
        return f"{{self._host}}/{{item}}"
'''

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


def make_file(lines: int, path: str) -> str:
    head = "from sqlalchemy import select\nfrom sqlalchemy.ext.asyncio import AsyncSession\n"
    parts, i, count = [head], 0, 2
    while count < lines:
        block = BLOCK.format(i=i)
        parts.append(block)
        count += block.count("\n")
        i += 1
    with open(path, "w") as fh:
        fh.write("".join(parts))
    return f"get_user_{i // 2}"


def best(cmd) -> float:
    start = time.perf_counter()
    out = subprocess.run(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    took = time.perf_counter() - start
    if out.returncode not in (0, 1):
        sys.exit(f"{cmd[0]} failed: {out.stderr.decode()[:400]}")
    return took


def main() -> None:
    binary, venv_bin = sys.argv[1], sys.argv[2]
    tools = {
        "cashews-add": lambda f, t: [binary, f"{f}::{t}"],
        "ruff B019": lambda f, t: [f"{venv_bin}/ruff", "check", "--no-cache", "--select", "B019", "--quiet", f],
        "LibCST codemod": lambda f, t: [f"{venv_bin}/python", "-c", LIBCST, f, t],
    }
    print(f"| lines | {' | '.join(tools)} |")
    print("|" + " --- |" * (len(tools) + 1))
    with tempfile.TemporaryDirectory() as tmp:
        for lines in SIZES:
            path = os.path.join(tmp, f"m{lines}.py")
            target = make_file(lines, path)
            times = {name: float("inf") for name in tools}
            for _ in range(RUNS):  # interleaved: each round runs every tool once
                for name, cmd in tools.items():
                    times[name] = min(times[name], best(cmd(path, target)))
            cells = " | ".join(f"{times[n] * 1000:.1f} ms" for n in tools)
            print(f"| {lines:,} | {cells} |", flush=True)


if __name__ == "__main__":
    main()
