"""Checks of `fjq import` made with DuckDB and pyarrow, not with fjq, over two data directories.

    datasets.py compare A B TABLE...      per table: rows in A, rows of A not in B, rows of B not in A
                                          (EXCEPT ALL both ways, so duplicates count)
    datasets.py csv SRC OUT TABLE...      writes SRC's tables as CSV with a header (DuckDB's COPY),
                                          one OUT/<table>.csv each: what a SQL client exports
    datasets.py distinct DIR TABLE COL    the column's distinct values, one per line (NULL left out)
    datasets.py layout DIR TABLE          per Parquet file: its rows in file order are sorted by
                                          the sorting columns it declares, the declared columns,
                                          compression, and which columns are dictionary-encoded
"""
import sys

import duckdb
import pyarrow.parquet as pq


def scan(d, t):
    return f"read_parquet('{d}/{t}/*.parquet')"


def main() -> None:
    cmd, args = sys.argv[1], sys.argv[2:]
    con = duckdb.connect()
    con.execute("SET threads TO 2")
    if cmd == "compare":
        a, b, tables = args[0], args[1], args[2:]
        for t in tables:
            n = con.execute(f"SELECT count(*) FROM {scan(a, t)}").fetchone()[0]
            m = con.execute(f"SELECT count(*) FROM {scan(b, t)}").fetchone()[0]
            x = con.execute(f"SELECT count(*) FROM (SELECT * FROM {scan(a, t)} EXCEPT ALL SELECT * FROM {scan(b, t)})").fetchone()[0]
            y = con.execute(f"SELECT count(*) FROM (SELECT * FROM {scan(b, t)} EXCEPT ALL SELECT * FROM {scan(a, t)})").fetchone()[0]
            print(t, n, m, x, y)
    elif cmd == "csv":
        src, out, tables = args[0], args[1], args[2:]
        for t in tables:
            con.execute(f"COPY (SELECT * FROM {scan(src, t)}) TO '{out}/{t}.csv' (HEADER, DELIMITER ',')")
    elif cmd == "distinct":
        d, t, c = args
        for (v,) in con.execute(f"SELECT DISTINCT {c} FROM {scan(d, t)} WHERE {c} IS NOT NULL ORDER BY 1").fetchall():
            print(str(v).lower() if isinstance(v, bool) else v)
    elif cmd == "layout":
        import glob
        d, t = args
        for path in sorted(glob.glob(f"{d}/{t}/*.parquet")):
            f = pq.ParquetFile(path)
            md = f.metadata
            rg = md.row_group(0)
            sorting = rg.sorting_columns or ()
            names = [f.schema_arrow.names[s.column_index] for s in sorting]
            table = f.read()
            keys = list(zip(*[table.column(n).to_pylist() for n in names])) if names else []
            in_order = all(keys[i] <= keys[i + 1] for i in range(len(keys) - 1))
            dictionary = [rg.column(i).path_in_schema for i in range(rg.num_columns)
                          if "RLE_DICTIONARY" in rg.column(i).encodings or "PLAIN_DICTIONARY" in rg.column(i).encodings]
            print(f"sorted_by={','.join(names)} in_order={in_order} compression={rg.column(0).compression} "
                  f"statistics={rg.column(0).is_stats_set} dictionary={','.join(dictionary)}")
    else:
        sys.exit(f"unknown command {cmd}")


if __name__ == "__main__":
    main()
