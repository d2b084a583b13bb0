"""Runs SQL from standard input with DuckDB over an fjq data directory; prints tab-separated rows.

The differential tests compare these rows with fjq's: each table of the dataset is a view over
its Parquet files, exactly the files fjq reads. NULL prints as NULL.
"""
import sys

import duckdb

TABLES = ["cases", "case_links", "events", "people", "persons",
          "cafcass_cases", "cafcass_people", "cafcass_work", "linkage"]


def main() -> None:
    data = sys.argv[1]
    sql = sys.stdin.read()
    con = duckdb.connect()
    con.execute("SET threads TO 2")
    for table in TABLES:
        con.execute(f"CREATE VIEW {table} AS SELECT * FROM read_parquet('{data}/{table}/*.parquet')")
    out = sys.stdout
    for row in con.execute(sql).fetchall():
        out.write("\t".join("NULL" if v is None else str(v) for v in row))
        out.write("\n")


if __name__ == "__main__":
    main()
