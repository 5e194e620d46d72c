"""Runs a rewritten fixture project under real cashews and prints what happened as JSON.

    driver.py app    PROJECT MODULE:APP    COUNTED PATH...
    driver.py script PROJECT SCRIPT.py     COUNTED ARG...

COUNTED is MODULE:NAME, the slow async function the cached code calls. It is
replaced by a wrapper that records each call's arguments, so a cache hit shows
as a call that never reaches it; the fixtures themselves carry no test hooks.

`app` imports MODULE, enters `with TestClient(app)` (which runs the app's
lifespan, so the generated `cache.setup(...)` runs at startup) and GETs each
PATH. `script` runs SCRIPT as `__main__` with ARG... as its command line and
parses each line it prints as JSON, with the time since the previous line.
"""

import contextlib
import importlib
import io
import json
import os
import runpy
import sys
import time


def counted(spec):
    module_name, attr = spec.split(":")
    module = importlib.import_module(module_name)
    real = getattr(module, attr)
    calls = []

    async def wrapper(*args, **kwargs):
        calls.append(list(args) + sorted(kwargs.items()))
        return await real(*args, **kwargs)

    setattr(module, attr, wrapper)
    return calls


def run_app(spec, calls, paths):
    from fastapi.testclient import TestClient

    module_name, name = spec.split(":")
    app = getattr(importlib.import_module(module_name), name)
    requests = []
    with TestClient(app) as client:
        for path in paths:
            before = len(calls)
            start = time.perf_counter()
            response = client.get(path)
            requests.append(
                {
                    "path": path,
                    "status": response.status_code,
                    "body": response.json(),
                    "seconds": time.perf_counter() - start,
                    "computed": len(calls) > before,
                }
            )
    return {"requests": requests}


class Stamped(io.StringIO):
    """Stdout that notes when each line is complete: one line per cached call."""

    def __init__(self):
        super().__init__()
        self.stamps = []

    def write(self, text):
        self.stamps.extend(time.perf_counter() for _ in range(text.count("\n")))
        return super().write(text)


def run_script(script, args):
    out = Stamped()
    sys.argv = [script, *args]
    start = time.perf_counter()
    with contextlib.redirect_stdout(out):
        runpy.run_path(script, run_name="__main__")
    lines = []
    for text, stamp in zip(out.getvalue().splitlines(), out.stamps):
        lines.append({"printed": json.loads(text), "seconds": stamp - start})
        start = stamp
    return {"lines": lines}


def main():
    mode, project, spec, count, *rest = sys.argv[1:]
    os.chdir(project)
    sys.path.insert(0, project)
    calls = counted(count)
    import cashews  # noqa: F401  (imported up front so it does not count in a call's time)
    if mode == "app":
        facts = run_app(spec, calls, rest)
    elif mode == "script":
        facts = run_script(spec, rest)
    else:
        raise SystemExit(f"unknown mode {mode!r}")
    facts["calls"] = calls
    print(json.dumps(facts))


if __name__ == "__main__":
    main()
