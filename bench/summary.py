"""Side-by-side summary of the JSON results written by calls.py and import_time.py.

One column per CPython version: the slowdown ratio of each case (with PASS/MISS
where there is a target) and the import cost.  ``bench/run.sh`` calls this at
the end; ``--markdown`` prints the tables used in docs/performance.md (side by side,
then one detailed table per version).

Run:  python bench/summary.py [--markdown] bench/.env-*/results-*.json
"""

from __future__ import annotations

import argparse

from common import load_json, table


def cell(ratio, fired=True, verdict=""):
    if not fired:
        return "BROKEN"
    text = "%.2fx" % ratio if ratio < 10 else "%.0fx" % ratio
    return text + (" " + verdict if verdict else "")


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("files", nargs="+")
    p.add_argument("--markdown", action="store_true")
    args = p.parse_args()

    data = load_json(args.files)
    versions = sorted({d["python"] for d in data}, key=lambda v: tuple(map(int, v.split("."))))
    exact = {d["python"]: d["version"] for d in data}
    calls = {d["python"]: {r["case"]: r for r in d["results"]} for d in data if d["kind"] == "calls"}
    imports = {d["python"]: d for d in data if d["kind"] == "import"}

    cases = []
    for v in versions:
        cases += [c for c in calls.get(v, {}) if c not in cases]
    header = ["case"] + [exact[v] for v in versions]
    rows = []
    for c in cases:
        row = [c]
        for v in versions:
            r = calls.get(v, {}).get(c)
            if r and c == "bare":
                row.append("%.1f ms" % (r["best_s"] * 1e3))
            else:
                row.append(cell(r["ratio"], r["fired"], r["verdict"]) if r else "-")
        rows.append(row)
    for label, key, fmt in [
        ("import jupdb (ms over bare)", "diff_ms", "%.1f"),
        ("threads / sockets after import", None, None),
    ]:
        row = [label]
        for v in versions:
            d = imports.get(v)
            if d is None:
                row.append("-")
            elif key:
                row.append(fmt % d[key] + " " + ("PASS" if d[key] < d["limit_ms"] else "MISS"))
            else:
                row.append("%d / %d" % (max(d["threads"], d["os_threads"]), d["sockets"]))
        rows.append(row)
    print(table(header, rows, markdown=args.markdown))
    if args.markdown:
        for v in versions:
            print("\n#### CPython %s\n" % exact[v])
            print(
                table(
                    ["case", "best ms", "ratio", "runs", "probe fired", "target", ""],
                    [
                        [
                            r["case"],
                            "%.1f" % (r["best_s"] * 1e3),
                            "%.2fx" % r["ratio"],
                            r["runs"],
                            "yes" if r["fired"] else "NO",
                            "<= %gx" % r["target"] if r["target"] else "",
                            r["verdict"],
                        ]
                        for r in calls.get(v, {}).values()
                    ],
                    markdown=True,
                )
            )


if __name__ == "__main__":
    main()
