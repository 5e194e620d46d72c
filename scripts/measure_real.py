"""Measures cashews-add on the labelled real-world set (fixtures/real/).

    measure_real.py DIR BINARY [--only functions|keys|lint|scan|writers] [--repo NAME]

DIR holds one checkout per repository of repos.tsv (scripts/real-checkouts.sh).
For functions.tsv it runs the rewrite on every labelled function (a dry run:
nothing is written) and compares the status with the label; for SAFE
functions that are changed it checks the key: every labelled input is held,
no labelled handle is. For lint.tsv it lints each repository and compares
the findings on each labelled function with the expected codes. For scan it
runs `scan` over each repository and compares its verdict on every labelled
function with the rewrite's status, and counts the SAFE functions that do
I/O (a db_read, http_read or file_read label) listed as worth caching. Prints the
agreement per label and every disagreement; exits 0 (the figures are the
result, not a pass/fail).
"""

import csv
import json
import os
import re
import subprocess
import sys
from collections import Counter, defaultdict

HERE = os.path.dirname(os.path.abspath(__file__))
REAL = os.path.join(HERE, "..", "fixtures", "real")


def rows(name):
    with open(os.path.join(REAL, name), newline="") as f:
        return list(csv.DictReader(f, delimiter="\t"))


def run(binary, cwd, args):
    out = subprocess.run(
        [binary, *args], cwd=cwd, capture_output=True, text=True, timeout=120
    )
    return out.returncode, out.stdout, out.stderr


FIELD = re.compile(r"\{([^{}:!]+)")


def fields(template):
    return [m.group(1).strip() for m in FIELD.finditer(template or "")]


def holds(template_fields, wanted):
    """A labelled input (with | alternatives) is held by some field."""
    for alt in wanted.split("|"):
        alt = alt.strip()
        for f in template_fields:
            # the same field, a finer one, or the whole of what holds it
            # (`{request.path_params}` holds `request.path_params.slug`)
            if f == alt or f.startswith(alt + ".") or f.startswith(alt + "["):
                return True
            if "." in alt and (alt.startswith(f + ".") or alt.startswith(f + "[")) and f.count(".") >= 1:
                return True
            # cashews' names for *args / **kwargs
            if f in ("__args__", "__kwargs__") and alt.lstrip("*") in ("args", "kwargs"):
                return True
    return False


def holds_handle(template_fields, handle):
    """The handle itself is in the key (its fields, such as an id, may be)."""
    return any(f == handle for f in template_fields)


def measure_functions(directory, binary, only_repo):
    by_label = defaultdict(Counter)
    agreed = Counter()
    wrong = []
    keys = Counter()
    key_misses = []
    for row in rows("functions.tsv"):
        repo = row["repo"]
        if only_repo and repo != only_repo:
            continue
        cwd = os.path.join(directory, repo)
        if not os.path.isdir(cwd):
            by_label[row["label"]]["no checkout"] += 1
            continue
        code, out, err = run(binary, cwd, [row["target"], "--format", "json", "--no-setup"])
        label = row["label"]
        if label == "SAFE" and row["storable"] == "no":
            label = "SAFE, not storable"
        if code == 2:
            status, result = "error", {"message": err.strip().splitlines()[-1] if err.strip() else "exit 2"}
        else:
            result = json.loads(out)["results"][0]
            status = result["status"]
        by_label[label][status] += 1
        agreed[label] += 0
        strategy = ((result.get("decision") or {}).get("strategy")) if status == "changed" else None
        agree = {
            "SAFE": status in ("changed", "unchanged"),
            # refused before it reaches cashews, or cached item by item
            "SAFE, not storable": status in ("refused", "review") or strategy == "iterator",
            "UNSAFE": status in ("refused", "review"),
            "REVIEW": status in ("review", "refused"),
        }[label]
        agreed[label] += int(agree)
        if not agree:
            wrong.append((label, status, repo, row["target"], row["why"], result.get("message", "")))
        if label.startswith("SAFE") and status == "changed":
            template = (result.get("key") or {}).get("template", "")
            got = fields(template)
            missing = [k for k in split(row["key"]) if not holds(got, k)]
            handles = [h for h in split(row["handles"]) if holds_handle(got, h)]
            if missing or handles:
                keys["wrong"] += 1
                key_misses.append((repo, row["target"], template, missing, handles))
            else:
                keys["right"] += 1
    print("## Functions (functions.tsv): status per label\n")
    print("| label | functions | agree | statuses |")
    print("| --- | --- | --- | --- |")
    for label in ("SAFE", "SAFE, not storable", "UNSAFE", "REVIEW"):
        c = by_label[label]
        total = sum(c.values())
        good = agreed[label]
        shown = ", ".join(f"{k} {v}" for k, v in sorted(c.items()))
        pct = f"{100 * good / total:.0f}%" if total else "-"
        print(f"| {label} | {total} | {good} ({pct}) | {shown} |")
    print("\n### Disagreements\n")
    for label, status, repo, target, why, message in wrong:
        print(f"- {label} -> {status}: {repo} {target}\n    label: {why}\n    tool: {message[:400]}")
    total = keys["right"] + keys["wrong"]
    print(f"\n## Keys of SAFE functions the tool changes: {keys['right']} of {total} hold every input and no handle\n")
    for repo, target, template, missing, handles in key_misses:
        what = []
        if missing:
            what.append("misses " + ", ".join(missing))
        if handles:
            what.append("holds handle " + ", ".join(handles))
        print(f"- {repo} {target}: `{template}`: {'; '.join(what)}")


def split(value):
    if not value or value.strip() == "-":
        return []
    return [v.strip() for v in value.split(",") if v.strip()]


def def_line(path, line, name):
    """The line of the `def` the decorator at `line` belongs to."""
    with open(path, encoding="utf-8", errors="replace") as f:
        lines = f.read().splitlines()
    pattern = re.compile(r"^\s*(async\s+)?def\s+" + re.escape(name) + r"\b")
    for i in range(line - 1, min(len(lines), line + 60)):
        if pattern.match(lines[i]):
            return i + 1
    return line


def measure_lint(directory, binary, only_repo):
    labelled = [r for r in rows("lint.tsv") if not only_repo or r["repo"] == only_repo]
    findings = {}
    for repo in sorted({r["repo"] for r in labelled}):
        cwd = os.path.join(directory, repo)
        if not os.path.isdir(cwd):
            continue
        code, out, err = run(binary, cwd, ["lint", "--format", "json", "--exit-zero", "."])
        if code == 2:
            print(f"lint failed in {repo}: {err.strip()}")
            findings[repo] = []
            continue
        findings[repo] = json.loads(out)["findings"]
    found, missed, false, uncertain = Counter(), [], [], 0
    expected = Counter()
    claimed = defaultdict(set)  # repo -> finding ids matched to a labelled function
    for row in labelled:
        repo = row["repo"]
        if repo not in findings:
            continue
        codes = [c for c in split(row["codes"].replace("NONE", "")) if c]
        sure = [c for c in codes if not c.endswith("~")]
        maybe = [c.rstrip("~") for c in codes if c.endswith("~")]
        if row["target"] == "-":
            here = [(i, f) for i, f in enumerate(findings[repo]) if f["code"] == "CA402"]
        else:
            path, qual = row["target"].split("::")
            start = int(row["line"])
            end = def_line(os.path.join(directory, repo, path), start, qual.split(".")[-1])
            here = [
                (i, f)
                for i, f in enumerate(findings[repo])
                if os.path.normpath(f["path"]) == os.path.normpath(path) and start <= f["line"] <= end
            ]
        got = {f["code"] for _, f in here}
        claimed[repo].update(i for i, _ in here)
        for c in sure:
            expected[c] += 1
            if c in got:
                found[c] += 1
            else:
                missed.append((c, repo, row["target"], row["why"]))
        for c in got:
            if c in maybe:
                uncertain += 1
            elif c not in sure:
                msg = next(f["message"] for _, f in here if f["code"] == c)
                false.append((c, repo, row["target"], msg))
    for repo, fs in findings.items():
        for i, f in enumerate(fs):
            if i not in claimed[repo]:
                false.append((f["code"], repo, f"{f['path']}:{f['line']}", f["message"]))
    print("## Lint (lint.tsv)\n")
    print("| code | expected | found | missed | false |")
    print("| --- | --- | --- | --- | --- |")
    falses = Counter(c for c, *_ in false)
    for code in sorted(set(expected) | set(falses)):
        print(f"| {code} | {expected[code]} | {found[code]} | {expected[code] - found[code]} | {falses[code]} |")
    total = sum(expected.values())
    print(f"\nfound {sum(found.values())} of {total} labelled findings, {len(false)} false, {uncertain} on `~` labels (not counted)\n")
    for c, repo, target, why in missed:
        print(f"- missed {c}: {repo} {target}: {why}")
    for c, repo, target, msg in false:
        print(f"- false {c}: {repo} {target}: {msg[:300]}")



VERDICT_OF_STATUS = {
    "changed": ("worth", "trivial"),
    "unchanged": ("cached",),
    "refused": ("unsafe",),
    "review": ("review",),
}
IO = ("db_read", "http_read", "file_read")


def measure_scan(directory, binary, only_repo):
    labelled = [r for r in rows("functions.tsv") if not only_repo or r["repo"] == only_repo]
    verdicts, skipped = {}, set()
    for repo in sorted({r["repo"] for r in labelled}):
        cwd = os.path.join(directory, repo)
        if not os.path.isdir(cwd):
            continue
        code, out, err = run(binary, cwd, ["scan", "--format", "json", "."])
        if code != 0:
            print(f"scan failed in {repo}: {err.strip()[-300:]}")
            continue
        doc = json.loads(out)
        for r in doc["results"]:
            verdicts[(repo, os.path.normpath(r["target"]).replace(".<locals>", ""))] = r
        for s in doc["skipped"]:
            skipped.add((repo, os.path.normpath(s["path"])))
    same = differ = 0
    io_total = io_worth = 0
    compute = Counter()
    mismatches, io_missed = [], []
    for row in labelled:
        repo = row["repo"]
        if not os.path.isdir(os.path.join(directory, repo)):
            continue
        code, out, err = run(binary, os.path.join(directory, repo), [row["target"], "--format", "json", "--no-setup"])
        status = "error" if code == 2 else json.loads(out)["results"][0]["status"]
        path, qual = row["target"].split("::")
        got = verdicts.get((repo, os.path.normpath(path) + "::" + qual))
        verdict = got["verdict"] if got else "not listed"
        if not got and (repo, os.path.normpath(path)) in skipped:
            verdict = "skipped"  # a file neither can read: the rewrite exits 2 on it
        if verdict in VERDICT_OF_STATUS.get(status, ()) or (status, verdict) == ("error", "skipped"):
            same += 1
        else:
            differ += 1
            mismatches.append((repo, row["target"], status, verdict))
        effects = split(row["effects"])
        if row["label"] == "SAFE" and row["storable"] != "no" and any(e in IO for e in effects):
            io_total += 1
            io_worth += verdict == "worth"
            if verdict != "worth":
                io_missed.append((repo, row["target"], verdict, (got or {}).get("reason", "")))
        elif row["label"] == "SAFE" and effects and all(e in ("compute", "auth") for e in effects):
            compute[verdict] += 1
    total = same + differ
    print(f"## Scan (functions.tsv): scan's verdict equals the rewrite's status on {same} of {total}\n")
    for repo, target, status, verdict in mismatches:
        print(f"- {repo} {target}: rewrite {status}, scan {verdict}")
    pct = f"{100 * io_worth / io_total:.0f}%" if io_total else "-"
    print(f"\nSAFE (and storable) functions that do I/O listed as worth caching: {io_worth} of {io_total} ({pct})\n")
    for repo, target, verdict, reason in io_missed:
        print(f"- {repo} {target}: {verdict}: {reason[:300]}")
    shown = ", ".join(f"{k} {v}" for k, v in sorted(compute.items()))
    print(f"\nSAFE functions that only compute: {shown}")


def measure_writers(directory, binary, only_repo):
    """Writers the rewrite reports (`invalidation.writers`) against the
    `writers` column, for SAFE functions the tool decorates."""
    found = labelled = reported = right = 0
    functions = exact = external = external_noted = 0
    misses = []
    for row in rows("functions.tsv"):
        repo = row["repo"]
        if row["label"] != "SAFE" or (only_repo and repo != only_repo):
            continue
        cwd = os.path.join(directory, repo)
        if not os.path.isdir(cwd):
            continue
        code, out, err = run(binary, cwd, [row["target"], "--format", "json", "--no-setup"])
        if code == 2:
            continue
        result = json.loads(out)["results"][0]
        if result["status"] != "changed":
            continue
        want = {w.strip() for w in row["writers"].split(";") if w.strip() and w.strip() != "-"}
        outside = want == {"external"}
        if outside:
            want = set()  # written outside the project: no writer, and the note says so
            note = (result.get("invalidation") or {}).get("note") or ""
            external_noted += "outside API" in note
        reported_writers = (result.get("invalidation") or {}).get("writers", [])
        # Labels name a nested function `outer.inner`; Python (and the tool) `outer.<locals>.inner`.
        plain = lambda t: t.replace(".<locals>.", ".")
        got = {plain(w["target"]) for w in reported_writers}
        # A caller whose write goes through a labelled writer writes the same data.
        callers = {plain(w["target"]) for w in reported_writers if want & {plain(t) for t in w.get("through", [])}}
        functions += 1
        external += outside
        labelled += len(want)
        found += len(want & got)
        reported += len(got)
        right += len(got & want) + len(callers - want)
        exact += (want == got) or (bool(want) == bool(got) and len(want & got) >= max(1, len(want) // 2))
        if want != got:
            misses.append((repo, row["target"], sorted(want - got), sorted(got - want - callers)))
    print(f"## Writers (functions.tsv `writers`, SAFE functions the tool decorates: {functions})\n")
    if labelled:
        print(f"labelled writers found: {found} of {labelled} ({100 * found / labelled:.0f}%)")
    if reported:
        print(f"reported writers in the labels, or writing through a labelled one: {right} of {reported} ({100 * right / reported:.0f}%)")
    print(f"written outside the project (label `external`): {external}, the note says so on {external_noted}")
    print(f"functions whose writers are at least half found (and none reported where none): {exact} of {functions}\n")
    for repo, target, missed, extra in misses:
        print(f"- {repo} {target}\n    missed: {', '.join(missed[:6])}{' …' if len(missed) > 6 else ''}\n    extra: {', '.join(extra[:6])}")


def main():
    args = sys.argv[1:]
    if len(args) < 2:
        sys.exit(__doc__)
    directory, binary = args[0], os.path.abspath(args[1])
    only = args[args.index("--only") + 1] if "--only" in args else None
    repo = args[args.index("--repo") + 1] if "--repo" in args else None
    if only in (None, "functions", "keys"):
        measure_functions(directory, binary, repo)
    if only in (None, "lint"):
        print()
        measure_lint(directory, binary, repo)
    if only in (None, "writers"):
        print()
        measure_writers(directory, binary, repo)
    if only in (None, "scan"):
        print()
        measure_scan(directory, binary, repo)


if __name__ == "__main__":
    main()
