"""fjq against DuckDB on the research queries of design/PERFORMANCE.md.

    bash tests/bench/run.sh [--scale 0.1] [--scale 1.0] [--runs 5] [--only NAME]

For each scale: generates the data if needed (target/bench-data/scale-S), then for each query
in queries.py checks that fjq and DuckDB return the same rows, and only then times both: each
engine runs in its own process (so peak memory is its own), runs the query once to warm up and
then `runs` times, and reports the median. fjq runs with --memory-limit 1G, DuckDB with
memory_limit 1GB, both on 2 threads. A plain scan of the columns each query reads is timed on
fjq as the floor. Prints a table and writes target/bench-results.json, and each query's
EXPLAIN ANALYZE on fjq to target/bench-profiles/.
"""

import argparse
import csv
import io
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from queries import QUERIES  # noqa: E402

ROOT = Path(__file__).resolve().parents[2]
FJQ = ROOT / "target" / "release" / "fjq"
TABLES = ["cases", "case_links", "events", "people", "persons", "cafcass_cases", "cafcass_people", "cafcass_work", "linkage"]

DUCKDB_RUNNER = """
import json, sys, time, duckdb
data, runs, sql = sys.argv[1], int(sys.argv[2]), sys.stdin.read()
con = duckdb.connect()
con.execute("SET threads TO 2")
con.execute("SET memory_limit = '1GB'")
con.execute("SET enable_progress_bar = false")
for t in %r:
    con.execute(f"CREATE VIEW {t} AS SELECT * FROM read_parquet('{data}/{t}/*.parquet')")
rows = con.execute(sql).fetchall()
times = []
for _ in range(runs):
    start = time.perf_counter()
    con.execute(sql).fetchall()
    times.append(time.perf_counter() - start)
print(json.dumps({"times": times, "rows": [["NULL" if v is None else str(v) for v in r] for r in rows]}))
""" % (TABLES,)


def fjq_rows(data, sql):
    """fjq's answer to `sql`, as rows of text (NULL for empty fields)."""
    proc = subprocess.run([str(FJQ), "--data", str(data), "--memory-limit", "1G", "--format", "csv", "--quiet", "-c", sql],
                          capture_output=True, text=True)
    if proc.returncode != 0:
        raise RuntimeError(f"fjq failed on\n{sql}\n{proc.stderr.strip()}")
    rows = list(csv.reader(io.StringIO(proc.stdout)))
    return [["NULL" if v == "" else v for v in row] for row in rows[1:]]


def peak_rss(cmd, stdin_text=None):
    proc = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    if stdin_text is not None:
        proc.stdin.write(stdin_text)
    proc.stdin.close()
    out = proc.stdout.read()
    err = proc.stderr.read()
    _, status, usage = os.wait4(proc.pid, 0)
    if status != 0:
        raise RuntimeError(f"{cmd[0]} failed: {err.strip()}")
    return out, err, usage.ru_maxrss / 1024


def duckdb_run(data, sql, runs):
    out, _, peak = peak_rss([sys.executable, "-c", DUCKDB_RUNNER, str(data), str(runs)], sql)
    result = json.loads(out.strip().splitlines()[-1])
    return result["times"], result["rows"], peak


def canonical(rows):
    """Rows as sorted tuples of text; numbers that came out as 1.0 in one engine and 1 in the other agree."""
    def norm(v):
        try:
            f = float(v)
            return str(int(f)) if f.is_integer() else repr(f)
        except ValueError:
            return v
    return sorted(tuple(norm(v) for v in r) for r in rows)


def ensure_data(scale):
    data = ROOT / "target" / "bench-data" / f"scale-{scale}"
    if not (data / "dataset.json").exists():
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
    scales = args.scale or [0.1, 1.0]
    results = []
    for scale in scales:
        data = ensure_data(scale)
        print(f"\nscale {scale}: median of {args.runs} warm runs, 2 threads, memory limit 1 GB")
        print(f"{'query':<48} {'fjq s':>8} {'duckdb s':>9} {'ratio':>6} {'fjq MB':>7} {'duck MB':>8} {'scan s':>7} {'x scan':>7}")
        for q in QUERIES:
            if args.only and args.only not in q["name"]:
                continue
            fjq_answer = fjq_rows(data, q["fjq"])
            _, duck_rows, _ = duckdb_run(data, q["duckdb"], 0)
            same = canonical(fjq_answer) == canonical(duck_rows)
            if not same:
                print(f"{q['name']:<48} DIFFERENT ANSWERS: fjq {len(fjq_answer)} rows, DuckDB {len(duck_rows)} rows; not timed")
                results.append({"scale": scale, "query": q["name"], "same_answer": False})
                continue
            cmd = [str(FJQ), "--data", str(data), "--memory-limit", "1G", "--format", "csv", "--timing", "--quiet", "--output", os.devnull]
            for _ in range(args.runs + 1):
                cmd += ["-c", q["fjq"]]
            _, err, fjq_peak = peak_rss(cmd)
            fjq_times = [float(line.split()[1]) / 1000 for line in err.splitlines() if line.startswith("Time: ")][1:]
            duck_times, _, duck_peak = duckdb_run(data, q["duckdb"], args.runs)
            scan_cmd = [str(FJQ), "--data", str(data), "--format", "csv", "--timing", "--quiet", "--output", os.devnull]
            for _ in range(args.runs + 1):
                scan_cmd += ["-c", q["scan"]]
            _, scan_err, _ = peak_rss(scan_cmd)
            scan_times = [float(line.split()[1]) / 1000 for line in scan_err.splitlines() if line.startswith("Time: ")][1:]
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
    Path(args.json).write_text(json.dumps({"generated": time.strftime("%Y-%m-%dT%H:%M:%S"), "results": results}, indent=2))
    print(f"\nwrote {args.json}")


if __name__ == "__main__":
    main()
