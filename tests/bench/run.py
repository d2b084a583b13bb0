"""fjq against DuckDB on the research queries of design/PERFORMANCE.md.

    bash tests/bench/run.sh [--scale 0.1] [--scale 1.0] [--runs 5] [--only NAME]

For each scale: generates the data if needed (target/bench-data/scale-S), then for each query
in queries.py checks that fjq and DuckDB return the same rows, and only then times both, in
interleaved rounds: each round runs fjq, then DuckDB, then fjq's scan, each in its own process
(so peak memory is its own) that runs the query twice to warm up and then up to twice timed,
until `runs` runs of each are timed; the table gives the medians (see timed_rounds). fjq runs
with --memory-limit 1G, DuckDB with memory_limit 1GB, both on 2 threads. A plain scan of the
columns each query reads is timed on fjq as the floor. Prints a table and writes
target/bench-results.json, a chart of the ratios beside it (bench-results.svg), and each
query's EXPLAIN ANALYZE on fjq to target/bench-profiles/. Then each engine's fixed cost per
query: `SELECT 1` and a count answered from the files' statistics, 50 warm runs in one process.

Answers are compared as typed values (fjq's written to Parquet and read back with pyarrow,
DuckDB's as its Python values): NULL is not '', a date is not its text, and numbers agree to 9
significant digits. Any query whose answers differ makes the run exit with status 1.
"""

import argparse
import html
import csv
import io
import json
import re
import os
import statistics
import subprocess
import sys
import tempfile
import time
from decimal import Decimal
from pathlib import Path

import pyarrow.parquet as pq

sys.path.insert(0, str(Path(__file__).parent))
from queries import QUERIES  # noqa: E402

ROOT = Path(__file__).resolve().parents[2]
# FJQ_BIN points the harness at another build (e.g. a debug one, to try the harness itself).
FJQ = Path(os.environ.get("FJQ_BIN", ROOT / "target" / "release" / "fjq"))
TABLES = ["cases", "case_links", "events", "people", "persons", "cafcass_cases", "cafcass_people", "cafcass_work", "linkage"]

DUCKDB_RUNNER = """
import json, sys, time, duckdb
data, runs, warmups, sql = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.stdin.read()
con = duckdb.connect()
con.execute("SET threads TO 2")
con.execute("SET memory_limit = '1GB'")
con.execute("SET enable_progress_bar = false")
for t in %r:
    con.execute(f"CREATE VIEW {t} AS SELECT * FROM read_parquet('{data}/{t}/*.parquet')")
rows = con.execute(sql).fetchall()
for _ in range(warmups - 1):
    con.execute(sql).fetchall()
times = []
for _ in range(runs):
    start = time.perf_counter()
    con.execute(sql).fetchall()
    times.append(time.perf_counter() - start)
def typed(v):
    if v is None or isinstance(v, (bool, int, float, str)):
        return v
    if isinstance(v, (list, tuple)):
        return [typed(x) for x in v]
    if hasattr(v, "isoformat"):
        return {"date": v.isoformat()}
    return float(v)  # Decimal
print(json.dumps({"times": times, "rows": [[typed(v) for v in r] for r in rows]}))
""" % (TABLES,)


def fjq_rows(data, sql):
    """fjq's answer to `sql` as typed values: written to Parquet by fjq, read back by pyarrow
    (in a scratch folder inside the data directory, where the open policy lets COPY write)."""
    with tempfile.TemporaryDirectory(dir=data, prefix=".answer-") as tmp:
        out = Path(tmp) / "answer.parquet"
        proc = subprocess.run([str(FJQ), "--data", str(data), "--memory-limit", "1G", "--quiet",
                               "-c", f"COPY ({sql}) TO '{out}'"], capture_output=True, text=True)
        if proc.returncode != 0:
            raise RuntimeError(f"fjq failed on\n{sql}\n{proc.stderr.strip()}")
        return [list(r.values()) for r in pq.read_table(out).to_pylist()]


# GNU time, to measure a process's peak memory from a small parent (see peak_rss).
GNU_TIME = "/usr/bin/time" if os.path.exists("/usr/bin/time") else None
PEAK_MARK = "FJQ_BENCH_PEAK_KB="


def peak_rss(cmd, stdin_text=None):
    """Runs `cmd`; returns its output, its error output and its peak resident memory in MB.

    Linux keeps a process's high-water mark across exec, so a child forked from this Python
    process (about 126 MB with pyarrow loaded) could never report less: both engines' small
    queries read 126 MB. GNU time forks from a process of about 2 MB, and reports the peak of
    the command alone; without it, the floor stays and the figures say so only by being equal."""
    wrapped = [GNU_TIME, "-f", PEAK_MARK + "%M", *cmd] if GNU_TIME else cmd
    proc = subprocess.Popen(wrapped, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    if stdin_text is not None:
        proc.stdin.write(stdin_text)
    proc.stdin.close()
    out = proc.stdout.read()
    err = proc.stderr.read()
    _, status, usage = os.wait4(proc.pid, 0)
    peak_kb = usage.ru_maxrss
    if GNU_TIME:
        lines = err.splitlines()
        marks = [l for l in lines if l.startswith(PEAK_MARK)]
        if marks:
            peak_kb = int(marks[-1][len(PEAK_MARK):])
        err = "\n".join(l for l in lines if not l.startswith(PEAK_MARK) and not l.startswith("Command exited with non-zero status"))
    if status != 0:
        raise RuntimeError(f"{cmd[0]} failed: {err.strip()}")
    return out, err, peak_kb / 1024


def settle_code_pages():
    """Drops both engines' code files (fjq's binary, DuckDB's library) from the page cache once,
    before the first run, so that the runs find them as read from disk after a restart.

    A file just written (a fresh build, a copy) stays in the page cache in the large blocks it
    was written in, and the kernel maps a whole block into a process that touches any byte of
    it: fjq's binary then showed 80 MB of code resident against 64 MB once read back from disk,
    the same binary on the same query (docs/BENCHMARK.md, 2026-12-04, "Code pages"). Both
    engines get the same treatment; DuckDB's peak did not move with it."""
    import duckdb
    files = [FJQ, *Path(duckdb.__file__).parent.parent.glob("_duckdb*.so"),
             *Path(duckdb.__file__).parent.glob("*.so")]
    os.sync()
    for path in files:
        fd = os.open(path, os.O_RDONLY)
        try:
            os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
        finally:
            os.close(fd)


def duckdb_run(data, sql, runs, warmups=1):
    """DuckDB's times for `runs` runs after `warmups` (at least 1, whose rows are returned), its
    rows, and the process's peak memory (MB)."""
    out, _, peak = peak_rss([sys.executable, "-c", DUCKDB_RUNNER, str(data), str(runs), str(max(warmups, 1))], sql)
    result = json.loads(out.strip().splitlines()[-1])
    return result["times"], result["rows"], peak


def fjq_timed(data, sql, warmups, runs, memory_limit=True):
    """fjq's times (s) for `runs` runs of `sql` after `warmups` runs, in one process, and that
    process's peak memory (MB)."""
    cmd = [str(FJQ), "--data", str(data), "--format", "csv", "--timing", "--quiet", "--output", os.devnull]
    if memory_limit:
        cmd += ["--memory-limit", "1G"]
    for _ in range(warmups + runs):
        cmd += ["-c", sql]
    _, err, peak = peak_rss(cmd)
    times = [float(line.split()[1]) / 1000 for line in err.splitlines() if line.startswith("Time: ")][warmups:]
    return times, peak


# Warm-up runs in each process: one is not enough. fjq's later runs of a small query are faster
# than its second (volumes, three processes, 2026-12-05: 92-102 ms, then 66-71, 64-70, 53-65).
WARMUPS = 2
# Timed runs in each process.
RUNS_PER_ROUND = 2


def timed_rounds(data, q, runs):
    """Times a query `runs` times on each engine, in rounds: each round runs fjq, then DuckDB, then
    fjq's scan, each in its own process that runs the SQL WARMUPS times and then up to
    RUNS_PER_ROUND times timed.

    A shared machine's speed can drift by half within minutes (2026-12-05: the same build took
    1.5 s on the linkage query over the same files, and 2.7 s half an hour later). Timing all of
    one engine's runs and then all of the other's put the two on different machines; in rounds
    seconds apart, both meet the same drift, and the ratio of medians stays fair. Peaks are the
    highest of the rounds."""
    fjq_times, duck_times, scan_times, fjq_peak, duck_peak = [], [], [], 0.0, 0.0
    left = runs
    while left > 0:
        n = min(RUNS_PER_ROUND, left)
        left -= n
        times, peak = fjq_timed(data, q["fjq"], WARMUPS, n)
        fjq_times += times
        fjq_peak = max(fjq_peak, peak)
        times, _, peak = duckdb_run(data, q["duckdb"], n, WARMUPS)
        duck_times += times
        duck_peak = max(duck_peak, peak)
        scan_times += fjq_timed(data, q["scan"], WARMUPS, n, memory_limit=False)[0]
    return fjq_times, duck_times, scan_times, fjq_peak, duck_peak


# The fixed cost of a query: statements that read nothing (`SELECT 1`: session, parsing,
# planning, execution, the answer handed back) or only the files' footers (a count answered from
# their statistics: the catalogue, file listing and statistics too).
FIXED_COST_QUERIES = ["SELECT 1", "SELECT count(*) FROM cases"]
FIXED_COST_WARMUPS, FIXED_COST_RUNS = 5, 50


def fixed_costs(data):
    """Each FIXED_COST_QUERIES statement's median time (ms) on each engine, each in one process
    that runs it FIXED_COST_WARMUPS times and then FIXED_COST_RUNS times timed. fjq's time is
    its shell's `--timing` (from the statement's start to its last row written, as CSV to
    /dev/null); DuckDB's is `execute` to `fetchall` in Python."""
    rows = []
    for sql in FIXED_COST_QUERIES:
        fjq_times, _ = fjq_timed(data, sql, FIXED_COST_WARMUPS, FIXED_COST_RUNS)
        duck_times, _, _ = duckdb_run(data, sql, FIXED_COST_RUNS, FIXED_COST_WARMUPS)
        rows.append({"query": sql, "fjq_median_ms": 1000 * statistics.median(fjq_times),
                     "duckdb_median_ms": 1000 * statistics.median(duck_times)})
    return rows


def canonical(rows):
    """Rows as sorted tuples of tagged values: NULL, numbers (to 9 significant digits, so 1 and
    1.0 agree), dates, text and lists each keep their kind."""
    def norm(v):
        if v is None:
            return ("null",)
        if isinstance(v, bool):
            return ("bool", v)
        if isinstance(v, (int, float, Decimal)):
            return ("number", f"{float(v):.9g}")
        if isinstance(v, dict) and "date" in v:
            return ("date", v["date"])
        if hasattr(v, "isoformat"):
            return ("date", v.isoformat())
        if isinstance(v, (list, tuple)):
            return ("list", tuple(norm(x) for x in v))
        return ("text", str(v))
    return sorted(tuple(norm(v) for v in r) for r in rows)


def draw_chart(results, path):
    """An SVG bar chart of fjq's time over DuckDB's per query, with the 1.0 and 0.5 lines."""
    timed = [r for r in results if r.get("same_answer") and "ratio" in r]
    if not timed:
        return
    bar, gap, left, top, width = 18, 6, 330, 40, 420
    top_ratio = max(2.0, max(r["ratio"] for r in timed) * 1.05)
    height = top + len(timed) * (bar + gap) + 40
    x = lambda ratio: left + width * ratio / top_ratio  # noqa: E731
    out = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{left + width + 80}" height="{height}" font-family="sans-serif" font-size="12">',
           f'<text x="10" y="20" font-size="14">fjq time / DuckDB time (lower is better); scales {sorted({r["scale"] for r in timed})}</text>']
    for i, r in enumerate(timed):
        y = top + i * (bar + gap)
        target = 0.5 if r["domain_functions"] else 1.0
        colour = "#2b8a3e" if r["ratio"] <= target else "#c92a2a"
        label = html.escape(f'{r["query"]} ({r["scale"]})')
        out.append(f'<text x="{left - 8}" y="{y + bar - 5}" text-anchor="end">{label}</text>')
        out.append(f'<rect x="{left}" y="{y}" width="{x(r["ratio"]) - left:.1f}" height="{bar}" fill="{colour}"/>')
        out.append(f'<text x="{x(r["ratio"]) + 4:.1f}" y="{y + bar - 5}">{r["ratio"]:.2f}</text>')
    bottom = top + len(timed) * (bar + gap)
    for ratio, name in [(1.0, "1.0: as fast as DuckDB"), (0.5, "0.5: target with domain functions")]:
        out.append(f'<line x1="{x(ratio):.1f}" y1="{top - 6}" x2="{x(ratio):.1f}" y2="{bottom}" stroke="#333" stroke-dasharray="4 3"/>')
        out.append(f'<text x="{x(ratio):.1f}" y="{bottom + 16 + (14 if ratio == 0.5 else 0)}" text-anchor="middle">{name}</text>')
    out.append("</svg>")
    Path(path).write_text("\n".join(out))


def data_revision():
    """The generator's data revision (`-dataN` in GENERATOR_VERSION): a dataset written by an
    older revision holds other data or another layout, and is written again."""
    source = (ROOT / "sample-data" / "src" / "lib.rs").read_text()
    found = re.search(r'GENERATOR_VERSION: &str = concat!\(env!\("CARGO_PKG_VERSION"\), "(-data\d+)"\)', source)
    return found.group(1) if found else None


def ensure_data(scale):
    data = ROOT / "target" / "bench-data" / f"scale-{scale}"
    meta = data / "dataset.json"
    revision = data_revision()
    stale = meta.exists() and revision is not None and not json.loads(meta.read_text()).get("generator", {}).get("version", "").endswith(revision)
    if not meta.exists() or stale:
        print(f"generating scale {scale} into {data}", flush=True)
        subprocess.run([str(FJQ), "generate", "--scale", str(scale), "--out", str(data), "--quiet"], check=True)
    return data


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--scale", action="append", type=float, help="scales to run (default 0.1 and 1.0)")
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--only", help="run only queries whose name contains this")
    ap.add_argument("--json", default=str(ROOT / "target" / "bench-results.json"))
    ap.add_argument("--profiles", default=str(ROOT / "target" / "bench-profiles"),
                    help="where each query's EXPLAIN ANALYZE on fjq is written (one file per scale and query)")
    args = ap.parse_args()
    settle_code_pages()
    scales = args.scale or [0.1, 1.0]
    results, fixed = [], []
    for scale in scales:
        data = ensure_data(scale)
        print(f"\nscale {scale}: median of {args.runs} runs in interleaved rounds, 2 threads, memory limit 1 GB")
        print(f"{'query':<48} {'fjq s':>8} {'duckdb s':>9} {'ratio':>6} {'fjq MB':>7} {'duck MB':>8} {'scan s':>7} {'x scan':>7}")
        for q in QUERIES:
            if args.only and args.only not in q["name"]:
                continue
            fjq_answer = fjq_rows(data, q["fjq"])
            _, duck_rows, _ = duckdb_run(data, q["duckdb"], 0)
            ours, theirs = canonical(fjq_answer), canonical(duck_rows)
            if ours != theirs:
                only_ours = [r for r in ours if r not in theirs][:3]
                only_theirs = [r for r in theirs if r not in ours][:3]
                print(f"{q['name']:<48} DIFFERENT ANSWERS: fjq {len(ours)} rows, DuckDB {len(theirs)} rows; not timed\n"
                      f"  only in fjq: {only_ours}\n  only in DuckDB: {only_theirs}")
                results.append({"scale": scale, "query": q["name"], "same_answer": False})
                continue
            fjq_times, duck_times, scan_times, fjq_peak, duck_peak = timed_rounds(data, q, args.runs)
            f, d, s = statistics.median(fjq_times), statistics.median(duck_times), statistics.median(scan_times)
            row = {
                "scale": scale, "query": q["name"], "domain_functions": q["functions"], "same_answer": True,
                "rows": len(fjq_answer), "fjq_median_s": f, "duckdb_median_s": d, "ratio": f / d,
                "fjq_peak_mb": fjq_peak, "duckdb_peak_mb": duck_peak, "scan_median_s": s, "ratio_to_scan": f / s,
                "fjq_times_s": fjq_times, "duckdb_times_s": duck_times,
            }
            results.append(row)
            profile_dir = Path(args.profiles)
            profile_dir.mkdir(parents=True, exist_ok=True)
            slug = "".join(c if c.isalnum() else "-" for c in q["name"].lower()).strip("-")
            proc = subprocess.run([str(FJQ), "--data", str(data), "--memory-limit", "1G", "--format", "csv", "--quiet",
                                   "-c", "EXPLAIN ANALYZE " + q["fjq"]], capture_output=True, text=True)
            (profile_dir / f"scale-{scale}-{slug}.txt").write_text(proc.stdout + proc.stderr)
            target = 0.5 if q["functions"] else 1.0
            flag = "" if f / d <= target else "  (target <= %.1f)" % target
            print(f"{q['name']:<48} {f:8.3f} {d:9.3f} {f/d:6.2f} {fjq_peak:7.0f} {duck_peak:8.0f} {s:7.3f} {f/s:7.1f}{flag}", flush=True)
        if not args.only or args.only in "fixed cost":
            print(f"\nfixed cost per query, scale {scale}: median of {FIXED_COST_RUNS} warm runs in one process")
            for row in fixed_costs(data):
                row["scale"] = scale
                fixed.append(row)
                flag = "" if row["fjq_median_ms"] <= row["duckdb_median_ms"] else "  (target: fjq <= DuckDB)"
                print(f"{row['query']:<48} fjq {row['fjq_median_ms']:7.2f} ms  DuckDB {row['duckdb_median_ms']:7.2f} ms{flag}", flush=True)
    Path(args.json).write_text(json.dumps({"generated": time.strftime("%Y-%m-%dT%H:%M:%S"), "results": results,
                                           "fixed_cost": fixed}, indent=2))
    chart = Path(args.json).with_suffix(".svg")
    draw_chart(results, chart)
    print(f"\nwrote {args.json} and {chart}")
    different = [r["query"] for r in results if not r["same_answer"]]
    if different:
        print(f"fjq and DuckDB answered differently: {', '.join(different)}", file=sys.stderr)
        sys.exit(1)


if __name__ == "__main__":
    main()
