"""The real Flight SQL clients against `fjq serve`, for the interop tests and the benchmark.

Usage: flight_client.py ACTION URI USER PASSWORD [ARGS...]; prints one JSON object.

  pyarrow SQL            pyarrow.flight: basic-token handshake, statement query, read_all
  adbc SQL [PARAMS]      ADBC Flight SQL driver: connect with username/password, execute
                         (PARAMS: a JSON list bound to $1, $2, ...), fetch_arrow_table
  pandas SQL             pandas.read_sql over an ADBC connection
  polars SQL             polars.read_database over an ADBC connection
  objects                ADBC adbc_get_objects: catalogs, schemas, tables and their columns
  status SQL             pyarrow: the error class (one per gRPC status) and message, or ok
  refusals               wrong password (pyarrow, ADBC) and a call without a token
  load CLIENTS QUERIES   CLIENTS threads, each its own ADBC connection running QUERIES queries;
                         every distinct answer received per query, and every failure
  throughput SQL         pyarrow read of a large result: rows, Arrow bytes, seconds
  abandon SQL            read the first batch of a result, then exit without closing

With FJQ_TLS_ROOT_CERTS set to a PEM file, both clients trust that CA (for grpc+tls:// URIs).

Rows come back as JSON objects (dates as ISO text) so the Rust side can compare them with
`fjq -c ... --format json`.
"""

import json
import os
import sys
import threading
import time

import pyarrow as pa
import pyarrow.flight as flight


def varint(n):
    out = bytearray()
    while True:
        b = n & 0x7F
        n >>= 7
        if n:
            out.append(b | 0x80)
        else:
            out.append(b)
            return bytes(out)


def field(number, payload):
    """A length-delimited protobuf field."""
    return varint((number << 3) | 2) + varint(len(payload)) + payload


def statement_query(sql):
    """Any(CommandStatementQuery(query=sql)) as Flight SQL expects in a command descriptor."""
    command = field(1, sql.encode())
    type_url = b"type.googleapis.com/arrow.flight.protocol.sql.CommandStatementQuery"
    return field(1, type_url) + field(2, command)


def rows_of(table):
    def plain(v):
        if v is None or isinstance(v, (bool, int, float, str)):
            return v
        return str(v)

    return [{k: plain(v) for k, v in row.items()} for row in table.to_pylist()]


# A grpc+tls server's CA certificate (PEM), when the test gives one.
TLS_ROOT_CERTS = os.environ.get("FJQ_TLS_ROOT_CERTS")


def pyarrow_client(uri, user, password):
    if TLS_ROOT_CERTS:
        with open(TLS_ROOT_CERTS, "rb") as f:
            client = flight.FlightClient(uri, tls_root_certs=f.read())
    else:
        client = flight.FlightClient(uri)
    header = client.authenticate_basic_token(user, password)
    return client, flight.FlightCallOptions(headers=[header])


def pyarrow_query(uri, user, password, sql):
    client, options = pyarrow_client(uri, user, password)
    info = client.get_flight_info(flight.FlightDescriptor.for_command(statement_query(sql)), options)
    reader = client.do_get(info.endpoints[0].ticket, options)
    table = reader.read_all()
    return table


def adbc_connect(uri, user, password):
    import adbc_driver_flightsql.dbapi as dbapi

    kwargs = {"username": user, "password": password}
    if TLS_ROOT_CERTS:
        with open(TLS_ROOT_CERTS) as f:
            kwargs["adbc.flight.sql.client_option.tls_root_certs"] = f.read()
    return dbapi.connect(uri, db_kwargs=kwargs)


def error_text(e):
    return f"{type(e).__name__}: {e}"


def main():
    action, uri, user, password, *args = sys.argv[1:]
    out = {}
    if action == "pyarrow":
        table = pyarrow_query(uri, user, password, args[0])
        out = {"rows": rows_of(table), "types": [str(t) for t in table.schema.types]}
    elif action == "adbc":
        params = json.loads(args[1]) if len(args) > 1 else None
        with adbc_connect(uri, user, password) as conn:
            with conn.cursor() as cur:
                cur.execute(args[0], params)
                table = cur.fetch_arrow_table()
        out = {"rows": rows_of(table), "types": [str(t) for t in table.schema.types]}
    elif action == "pandas":
        # pandas.read_sql over an ADBC connection, as a notebook would.
        import pandas as pd

        with adbc_connect(uri, user, password) as conn:
            frame = pd.read_sql(args[0], conn)
        table = pa.Table.from_pandas(frame, preserve_index=False)
        out = {"rows": rows_of(table), "dtypes": [str(t) for t in frame.dtypes],
               "types": [str(t) for t in table.schema.types]}
    elif action == "polars":
        # polars.read_database over an ADBC connection.
        import polars as pl

        with adbc_connect(uri, user, password) as conn:
            frame = pl.read_database(args[0], connection=conn)
        out = {"rows": rows_of(frame.to_arrow()), "dtypes": [str(t) for t in frame.dtypes]}
    elif action == "objects":
        with adbc_connect(uri, user, password) as conn:
            objects = conn.adbc_get_objects(depth="all").read_all().to_pylist()
        tables = {}
        for catalog in objects:
            for schema in catalog["catalog_db_schemas"] or []:
                for t in schema["db_schema_tables"] or []:
                    name = f'{catalog["catalog_name"]}.{schema["db_schema_name"]}.{t["table_name"]}'
                    tables[name] = {
                        "type": t["table_type"],
                        "columns": [c["column_name"] for c in t["table_columns"] or []],
                    }
        out = {"tables": tables}
    elif action == "status":
        # How the server answered a query: the pyarrow exception's class (one per gRPC status)
        # and its message, or "ok" with the row count.
        try:
            table = pyarrow_query(uri, user, password, args[0])
            out = {"status": "ok", "rows": table.num_rows}
        except flight.FlightError as e:
            out = {"status": type(e).__name__, "message": str(e)}
    elif action == "refusals":
        try:
            pyarrow_client(uri, user, password + "-wrong")
            out["pyarrow_wrong_password"] = "accepted"
        except flight.FlightUnauthenticatedError as e:
            out["pyarrow_wrong_password"] = "UNAUTHENTICATED " + str(e)
        except Exception as e:  # noqa: BLE001 - report whatever came back
            out["pyarrow_wrong_password"] = error_text(e)
        try:
            client = flight.FlightClient(uri)
            client.get_flight_info(flight.FlightDescriptor.for_command(statement_query("SELECT 1")))
            out["no_token"] = "accepted"
        except flight.FlightUnauthenticatedError as e:
            out["no_token"] = "UNAUTHENTICATED " + str(e)
        except Exception as e:  # noqa: BLE001
            out["no_token"] = error_text(e)
        try:
            with adbc_connect(uri, user, password + "-wrong") as conn:
                with conn.cursor() as cur:
                    cur.execute("SELECT 1")
                    cur.fetch_arrow_table()
            out["adbc_wrong_password"] = "accepted"
        except Exception as e:  # noqa: BLE001
            status = getattr(e, "status_code", None)
            out["adbc_wrong_password"] = f"{status} {error_text(e)}"
    elif action == "load":
        clients, queries = int(args[0]), int(args[1])
        sqls = [
            "SELECT case_type, count(*) AS n FROM cases GROUP BY case_type",
            "SELECT dfj_area, count(*) AS n FROM cases WHERE case_type = 'public_law' GROUP BY dfj_area",
            "SELECT count(*) AS n FROM events",
            "SELECT role, count(DISTINCT person_id) AS people FROM people GROUP BY role",
        ]
        failures = []
        rows = [0]
        answers = {}  # SQL -> the distinct answers received, each as JSON rows
        lock = threading.Lock()

        def work(i):
            try:
                with adbc_connect(uri, user, password) as conn:
                    for q in range(queries):
                        sql = sqls[(i + q) % len(sqls)]
                        with conn.cursor() as cur:
                            cur.execute(sql)
                            table = cur.fetch_arrow_table()
                        # Rows in a canonical order: a query without ORDER BY may send any.
                        ordered = sorted(rows_of(table), key=lambda r: json.dumps(r, sort_keys=True))
                        answer = json.dumps(ordered, sort_keys=True)
                        with lock:
                            rows[0] += table.num_rows
                            answers.setdefault(sql, set()).add(answer)
            except Exception as e:  # noqa: BLE001
                with lock:
                    failures.append(error_text(e))

        started = time.time()
        threads = [threading.Thread(target=work, args=(i,)) for i in range(clients)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        out = {
            "queries": clients * queries,
            "failures": failures,
            "answers": {sql: [json.loads(a) for a in sorted(v)] for sql, v in answers.items()},
            "rows": rows[0],
            "seconds": time.time() - started,
        }
    elif action == "throughput":
        client, options = pyarrow_client(uri, user, password)
        started = time.time()
        info = client.get_flight_info(flight.FlightDescriptor.for_command(statement_query(args[0])), options)
        reader = client.do_get(info.endpoints[0].ticket, options)
        rows = 0
        nbytes = 0
        for chunk in reader:
            rows += chunk.data.num_rows
            nbytes += chunk.data.nbytes
        seconds = time.time() - started
        out = {"rows": rows, "bytes": nbytes, "seconds": seconds, "mb_per_s": nbytes / 1e6 / seconds}
    elif action == "surface":
        # What a tool asks through ADBC before it queries: the server's info, a table's schema
        # (set beside the one pyarrow reads from the Parquet file itself), and the catalogue at
        # every depth of adbc_get_objects.
        import glob

        import pyarrow.parquet as pq

        data_dir = args[0]
        with adbc_connect(uri, user, password) as conn:
            info = dict(conn.adbc_get_info())
            table_schema = conn.adbc_get_table_schema("cases")
            depths = {}
            for depth in ["catalogs", "db_schemas", "tables", "columns", "all"]:
                objects = conn.adbc_get_objects(depth=depth).read_all().to_pylist()
                seen = {"catalogs": [], "db_schemas": [], "tables": [], "columns": {}}
                for catalog in objects:
                    seen["catalogs"].append(catalog["catalog_name"])
                    for schema in catalog["catalog_db_schemas"] or []:
                        seen["db_schemas"].append(schema["db_schema_name"])
                        for t in schema["db_schema_tables"] or []:
                            seen["tables"].append(t["table_name"])
                            for c in t["table_columns"] or []:
                                seen["columns"][f'{t["table_name"]}.{c["column_name"]}'] = {
                                    "xdbc_type_name": c["xdbc_type_name"],
                                    "ordinal_position": c["ordinal_position"],
                                }
                depths[depth] = seen
        parquet_file = sorted(glob.glob(os.path.join(data_dir, "cases", "*.parquet")))[0]
        parquet_schema = pq.read_schema(parquet_file)
        out = {
            "info": {k: (v if isinstance(v, (str, int, bool)) or v is None else str(v)) for k, v in info.items()},
            "table_schema": [[f.name, str(f.type)] for f in table_schema],
            "parquet_schema": [[f.name, str(f.type)] for f in parquet_schema],
            "depths": depths,
        }
    elif action == "cancel":
        # ADBC's cancel while a large result is being read: the read must stop with an error,
        # and the server must run the next query (tests start it with one query at a time).
        sql, limit = args[0], int(args[1])
        with adbc_connect(uri, user, password) as conn:
            cur = conn.cursor()
            cur.execute(sql)
            reader = cur.fetch_record_batch()
            first = reader.read_next_batch()
            out["first_batch_rows"] = first.num_rows
            cur.adbc_cancel()
            rows = 0
            try:
                for batch in reader:
                    rows += batch.num_rows
                    if rows > limit:
                        break
                out["after_cancel"] = f"went on reading: {rows} rows"
            except Exception as e:  # noqa: BLE001 - the error is the answer
                out["after_cancel"] = error_text(e)
            try:
                cur.close()
            except Exception:  # noqa: BLE001 - a cancelled cursor may complain on close
                pass
        started = time.time()
        table = pyarrow_query(uri, user, password, "SELECT count(*) AS n FROM cases")
        out["next"] = rows_of(table)
        out["next_seconds"] = time.time() - started
    elif action == "abandon":
        client, options = pyarrow_client(uri, user, password)
        info = client.get_flight_info(flight.FlightDescriptor.for_command(statement_query(args[0])), options)
        reader = client.do_get(info.endpoints[0].ticket, options)
        first = reader.read_chunk()
        print(json.dumps({"first_batch_rows": first.data.num_rows}), flush=True)
        os._exit(0)
    elif action == "try":
        # One query; its rows or its error, without failing.
        try:
            table = pyarrow_query(uri, user, password, args[0])
            out = {"rows": table.num_rows}
        except Exception as e:  # noqa: BLE001 - the error is the answer
            out = {"error": error_text(e)}
    elif action == "slow":
        # A reader that takes a large result one batch every `pause` seconds, while another
        # client runs short queries: the others must not wait for the slow one.
        sql, pause, others = args[0], float(args[1]), int(args[2])
        result = {}

        def slow_reader():
            client, options = pyarrow_client(uri, user, password)
            info = client.get_flight_info(flight.FlightDescriptor.for_command(statement_query(sql)), options)
            reader = client.do_get(info.endpoints[0].ticket, options)
            rows = 0
            for chunk in reader:
                rows += chunk.data.num_rows
                time.sleep(pause)
            result["slow_rows"] = rows

        t = threading.Thread(target=slow_reader)
        t.start()
        time.sleep(0.5)
        times = []
        for _ in range(others):
            started = time.time()
            pyarrow_query(uri, user, password, "SELECT case_type, count(*) AS n FROM cases GROUP BY case_type")
            times.append(time.time() - started)
        slow_still_reading = t.is_alive()
        t.join()
        out = {**result, "others": len(times), "others_max_seconds": max(times), "slow_still_reading": slow_still_reading}
    else:
        raise SystemExit(f"unknown action {action}")
    print(json.dumps(out))


if __name__ == "__main__":
    main()
