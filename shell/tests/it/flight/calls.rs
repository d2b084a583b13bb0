//! The Flight SQL calls that tools make before and around their queries, made from Rust with
//! arrow-flight's own `FlightSqlServiceClient` against a real `fjq serve`: GetSqlInfo,
//! GetXdbcTypeInfo, the key calls, GetTables with schemas, column metadata, GetSchema and
//! CancelFlightInfo. Expected answers come from the protocol (its list of SqlInfo facts), from
//! the data contract as written in design/DATA.md, and from a second call that must agree.

use super::{PASSWORD, Server, USER};
use arrow_flight::sql::client::FlightSqlServiceClient;
use arrow_flight::sql::{
    CommandGetCrossReference, CommandGetExportedKeys, CommandGetImportedKeys,
    CommandGetPrimaryKeys, CommandGetTables, CommandGetXdbcTypeInfo, CommandStatementQuery,
    ProstMessageExt, SqlInfo,
};
use arrow_flight::{
    Action, CancelFlightInfoRequest, CancelFlightInfoResult, CancelStatus, FlightDescriptor,
    FlightInfo,
};
use datafusion::arrow::array::{
    Array, AsArray, BooleanArray, RecordBatch, StringArray, UInt32Array,
};
use datafusion::arrow::datatypes::{Int32Type, Schema, UInt8Type};
use futures::TryStreamExt;
use prost::Message;
use std::collections::{BTreeSet, HashMap};
use std::time::Duration;
use tonic::transport::Channel;

type Client = FlightSqlServiceClient<Channel>;

async fn connect(server: &Server) -> Client {
    let channel = Channel::from_shared(server.uri.replace("grpc://", "http://"))
        .unwrap()
        .connect()
        .await
        .expect("connects");
    let mut client = FlightSqlServiceClient::new(channel);
    client.handshake(USER, PASSWORD).await.expect("logs in");
    client
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap()
}

/// Every batch a FlightInfo's first ticket streams, with the schema they came in.
async fn fetch(client: &mut Client, info: &FlightInfo) -> (Vec<RecordBatch>, Option<Schema>) {
    let ticket = info.endpoint[0].ticket.clone().expect("a ticket");
    let mut stream = client.do_get(ticket).await.expect("do_get");
    let mut batches = Vec::new();
    while let Some(batch) = stream.try_next().await.expect("a batch") {
        batches.push(batch);
    }
    let schema = stream.schema().map(|s| s.as_ref().clone());
    (batches, schema)
}

fn strings(batch: &RecordBatch, column: &str) -> Vec<String> {
    let array = batch.column_by_name(column).unwrap();
    let array = array.as_any().downcast_ref::<StringArray>().unwrap();
    (0..array.len())
        .map(|i| array.value(i).to_string())
        .collect()
}

/// A FlightInfo's whole answer as one batch (empty answers may stream no batch at all).
async fn fetch_one(client: &mut Client, info: &FlightInfo) -> RecordBatch {
    let (batches, _) = fetch(client, info).await;
    let schema = std::sync::Arc::new(info.clone().try_decode_schema().unwrap());
    datafusion::arrow::compute::concat_batches(&schema, &batches).unwrap()
}

/// Every SqlInfo the protocol defines, by asking for all: each is answered, and the facts a
/// tool acts on are right.
#[test]
fn sql_info_answers_every_fact_the_protocol_lists() {
    let server = Server::start("flight-sql-info", "open");
    runtime().block_on(async {
        let mut client = connect(&server).await;
        let info = client.get_sql_info(vec![]).await.unwrap();
        let batch = fetch_one(&mut client, &info).await;
        let names = batch
            .column_by_name("info_name")
            .unwrap()
            .as_any()
            .downcast_ref::<UInt32Array>()
            .unwrap();
        let answered: BTreeSet<u32> = names.values().iter().copied().collect();
        let defined: BTreeSet<u32> = (0..1000)
            .filter(|i| SqlInfo::try_from(*i).is_ok())
            .map(|i| i as u32)
            .collect();
        let missing: Vec<String> = defined
            .difference(&answered)
            .map(|i| format!("{:?}", SqlInfo::try_from(*i as i32).unwrap()))
            .collect();
        assert!(
            missing.is_empty(),
            "SqlInfo facts not answered: {missing:?}"
        );

        let values = batch.column_by_name("value").unwrap().as_union();
        let value_of = |id: SqlInfo| {
            let row = (0..names.len())
                .find(|&r| names.value(r) == id as u32)
                .unwrap();
            values.value(row)
        };
        let text = |id: SqlInfo| {
            value_of(id)
                .as_any()
                .downcast_ref::<StringArray>()
                .unwrap()
                .value(0)
                .to_string()
        };
        let flag = |id: SqlInfo| {
            value_of(id)
                .as_any()
                .downcast_ref::<BooleanArray>()
                .unwrap()
                .value(0)
        };
        let list = |id: SqlInfo| -> Vec<String> {
            let v = value_of(id);
            let l = v.as_list::<i32>().value(0);
            let s = l.as_any().downcast_ref::<StringArray>().unwrap();
            (0..s.len()).map(|i| s.value(i).to_string()).collect()
        };
        assert_eq!(text(SqlInfo::FlightSqlServerName), "fjq");
        assert_eq!(
            text(SqlInfo::FlightSqlServerVersion),
            env!("CARGO_PKG_VERSION")
        );
        assert!(flag(SqlInfo::FlightSqlServerReadOnly));
        assert!(flag(SqlInfo::FlightSqlServerCancel));
        assert!(!flag(SqlInfo::SqlTransactionsSupported));
        assert!(!flag(SqlInfo::SqlDdlTable));
        assert_eq!(text(SqlInfo::SqlIdentifierQuoteChar), "\"");
        let keywords = list(SqlInfo::SqlKeywords);
        for word in ["SELECT", "FROM", "WHERE", "QUALIFY"] {
            assert!(keywords.contains(&word.to_string()), "{word} not a keyword");
        }

        // Every function listed is one the server runs: the catalogue's own list has it.
        let routines = client
            .execute(
                "SELECT DISTINCT routine_name FROM information_schema.routines".to_string(),
                None,
            )
            .await
            .unwrap();
        let routines: BTreeSet<String> = fetch(&mut client, &routines)
            .await
            .0
            .iter()
            .flat_map(|b| strings(b, "routine_name"))
            .collect();
        for id in [
            SqlInfo::SqlNumericFunctions,
            SqlInfo::SqlStringFunctions,
            SqlInfo::SqlDatetimeFunctions,
            SqlInfo::SqlSystemFunctions,
        ] {
            let functions = list(id);
            assert!(functions.len() >= 4, "{id:?}: {functions:?}");
            for f in functions {
                assert!(
                    routines.contains(&f),
                    "{id:?} lists {f}, which the server lacks"
                );
            }
        }
        for f in ["abs", "round", "upper", "substr", "date_trunc"] {
            let all: Vec<String> = [
                SqlInfo::SqlNumericFunctions,
                SqlInfo::SqlStringFunctions,
                SqlInfo::SqlDatetimeFunctions,
            ]
            .into_iter()
            .flat_map(list)
            .collect();
            assert!(all.contains(&f.to_string()), "{f} missing");
        }
    });
}

/// GetXdbcTypeInfo names every type a contract column has, each name is one SQL accepts in a
/// CAST, and a column cast to it is reported under the same name.
#[test]
fn xdbc_types_name_every_contract_type_and_each_casts_back_to_itself() {
    let server = Server::start("flight-xdbc", "open");
    runtime().block_on(async {
        let mut client = connect(&server).await;
        let info = client
            .get_xdbc_type_info(CommandGetXdbcTypeInfo { data_type: None })
            .await
            .unwrap();
        let types = fetch_one(&mut client, &info).await;
        let names = strings(&types, "type_name");
        let codes: Vec<i32> = types
            .column_by_name("data_type")
            .unwrap()
            .as_primitive::<Int32Type>()
            .values()
            .to_vec();
        for (name, code) in [
            ("VARCHAR", 12),
            ("DATE", 91),
            ("INTEGER", 4),
            ("BIGINT", -5),
            ("DOUBLE", 8),
            ("BOOLEAN", -7),
        ] {
            let at = names.iter().position(|n| n == name);
            assert!(at.is_some(), "{name} missing from {names:?}");
            assert_eq!(codes[at.unwrap()], code, "{name}'s ODBC code");
        }
        // The filter by code.
        let dates = client
            .get_xdbc_type_info(CommandGetXdbcTypeInfo {
                data_type: Some(91),
            })
            .await
            .unwrap();
        assert_eq!(
            strings(&fetch_one(&mut client, &dates).await, "type_name"),
            vec!["DATE"]
        );
        // Each type name casts, and comes back under its own name.
        for name in &names {
            let sql = format!("SELECT CAST(NULL AS {name}) AS v");
            let info = client.execute(sql.clone(), None).await.unwrap_or_else(|e| {
                panic!("{sql}: {e}");
            });
            let schema = info.clone().try_decode_schema().unwrap();
            let reported = schema.field(0).metadata()["ARROW:FLIGHT:SQL:TYPE_NAME"].clone();
            assert_eq!(&reported, name, "{sql}");
            fetch(&mut client, &info).await;
        }
        // Every column of every table has a type the list names.
        let info = client
            .get_tables(CommandGetTables {
                include_schema: true,
                ..Default::default()
            })
            .await
            .unwrap();
        let tables = fetch_one(&mut client, &info).await;
        let schemas = tables
            .column_by_name("table_schema")
            .unwrap()
            .as_binary::<i32>();
        let mut columns = 0;
        for i in 0..tables.num_rows() {
            let schema = arrow_flight::IpcMessage(schemas.value(i).to_vec().into());
            let schema = Schema::try_from(schema).unwrap();
            for field in schema.fields() {
                let t = &field.metadata()["ARROW:FLIGHT:SQL:TYPE_NAME"];
                assert!(names.contains(t), "{} has type {t}", field.name());
                columns += 1;
            }
        }
        assert!(columns > 60, "only {columns} columns seen");
    });
}

/// The keys of design/DATA.md's tables, through the four key calls.
#[test]
fn the_key_calls_give_the_contracts_keys() {
    let server = Server::start("flight-keys", "open");
    runtime().block_on(async {
        let mut client = connect(&server).await;
        assert_eq!(
            primary(&mut client, "events").await,
            (vec!["event_id".into()], vec![1])
        );
        assert_eq!(
            primary(&mut client, "cases").await,
            (vec!["case_id".into()], vec![1])
        );
        assert_eq!(
            primary(&mut client, "cafcass_people").await,
            (
                vec!["cafcass_case_id".into(), "cafcass_person_id".into()],
                vec![1, 2]
            )
        );
        assert_eq!(
            primary(&mut client, "no_such_table").await,
            (vec![], vec![])
        );
        // A view has no key.
        assert_eq!(
            primary(&mut client, "linked_people").await,
            (vec![], vec![])
        );

        fn pairs(batch: &RecordBatch) -> Vec<String> {
            let pk_table = strings(batch, "pk_table_name");
            let pk_column = strings(batch, "pk_column_name");
            let fk_table = strings(batch, "fk_table_name");
            let fk_column = strings(batch, "fk_column_name");
            (0..batch.num_rows())
                .map(|i| {
                    format!(
                        "{}.{} -> {}.{}",
                        fk_table[i], fk_column[i], pk_table[i], pk_column[i]
                    )
                })
                .collect()
        }
        // The keys people holds: ordered by the table they point to.
        let info = client
            .get_imported_keys(CommandGetImportedKeys {
                catalog: None,
                db_schema: None,
                table: "people".into(),
            })
            .await
            .unwrap();
        let imported = fetch_one(&mut client, &info).await;
        assert_eq!(
            pairs(&imported),
            vec![
                "people.case_id -> cases.case_id",
                "people.person_id -> persons.person_id"
            ]
        );
        let rule = imported
            .column_by_name("update_rule")
            .unwrap()
            .as_primitive::<UInt8Type>()
            .value(0);
        assert_eq!(rule, 3, "NO ACTION");
        // The keys pointing at cases: ordered by the table holding them.
        let info = client
            .get_exported_keys(CommandGetExportedKeys {
                catalog: None,
                db_schema: None,
                table: "cases".into(),
            })
            .await
            .unwrap();
        assert_eq!(
            pairs(&fetch_one(&mut client, &info).await),
            vec![
                "case_links.case_id -> cases.case_id",
                "case_links.related_case_id -> cases.case_id",
                "events.case_id -> cases.case_id",
                "people.case_id -> cases.case_id",
            ]
        );
        // A two-column key, between two given tables.
        let info = client
            .get_cross_reference(CommandGetCrossReference {
                pk_table: "cafcass_people".into(),
                fk_table: "cafcass_work".into(),
                ..Default::default()
            })
            .await
            .unwrap();
        let cross = fetch_one(&mut client, &info).await;
        assert_eq!(
            pairs(&cross),
            vec![
                "cafcass_work.cafcass_case_id -> cafcass_people.cafcass_case_id",
                "cafcass_work.cafcass_person_id -> cafcass_people.cafcass_person_id",
            ]
        );
        assert_eq!(
            cross
                .column_by_name("key_sequence")
                .unwrap()
                .as_primitive::<Int32Type>()
                .values()
                .to_vec(),
            vec![1, 2]
        );
        // No key joins events to persons directly.
        let info = client
            .get_cross_reference(CommandGetCrossReference {
                pk_table: "persons".into(),
                fk_table: "events".into(),
                ..Default::default()
            })
            .await
            .unwrap();
        assert_eq!(fetch_one(&mut client, &info).await.num_rows(), 0);
    });
}

async fn primary(client: &mut Client, table: &str) -> (Vec<String>, Vec<i32>) {
    let info = client
        .get_primary_keys(CommandGetPrimaryKeys {
            catalog: None,
            db_schema: None,
            table: table.to_string(),
        })
        .await
        .unwrap();
    let batch = fetch_one(client, &info).await;
    let sequence = batch
        .column_by_name("key_sequence")
        .unwrap()
        .as_primitive::<Int32Type>()
        .values()
        .to_vec();
    (strings(&batch, "column_name"), sequence)
}

fn metadata_of(schema: &Schema, column: &str) -> HashMap<String, String> {
    schema.field_with_name(column).unwrap().metadata().clone()
}

/// A result's columns say their SQL type and, when taken straight from a table, which; the
/// batches arrive in the announced schema, metadata and all; GetSchema gives the same schema
/// without running the query, for a statement and for a prepared one.
#[test]
fn result_columns_carry_their_type_and_table_and_get_schema_agrees() {
    let server = Server::start("flight-column-metadata", "open");
    runtime().block_on(async {
        let mut client = connect(&server).await;
        let sql = "SELECT c.case_id, c.start_date, e.event_code, count(*) AS n, \
                   avg(c.n_children) AS mean_children \
                   FROM cases c JOIN events e ON c.case_id = e.case_id \
                   GROUP BY 1, 2, 3 ORDER BY 1, 3 LIMIT 50";
        let info = client.execute(sql.to_string(), None).await.unwrap();
        let announced = info.clone().try_decode_schema().unwrap();
        let case_id = metadata_of(&announced, "case_id");
        assert_eq!(case_id["ARROW:FLIGHT:SQL:TABLE_NAME"], "cases");
        assert_eq!(case_id["ARROW:FLIGHT:SQL:TYPE_NAME"], "VARCHAR");
        assert_eq!(case_id["ARROW:FLIGHT:SQL:IS_READ_ONLY"], "1");
        assert_eq!(case_id["ARROW:FLIGHT:SQL:IS_CASE_SENSITIVE"], "1");
        let start = metadata_of(&announced, "start_date");
        assert_eq!(start["ARROW:FLIGHT:SQL:TYPE_NAME"], "DATE");
        assert_eq!(start["ARROW:FLIGHT:SQL:TABLE_NAME"], "cases");
        assert_eq!(
            metadata_of(&announced, "event_code")["ARROW:FLIGHT:SQL:TABLE_NAME"],
            "events"
        );
        let n = metadata_of(&announced, "n");
        assert_eq!(n["ARROW:FLIGHT:SQL:TYPE_NAME"], "BIGINT");
        assert_eq!(n["ARROW:FLIGHT:SQL:PRECISION"], "19");
        assert_eq!(n["ARROW:FLIGHT:SQL:SCALE"], "0");
        assert!(
            !n.contains_key("ARROW:FLIGHT:SQL:TABLE_NAME"),
            "a count comes from no table: {n:?}"
        );
        assert_eq!(
            metadata_of(&announced, "mean_children")["ARROW:FLIGHT:SQL:TYPE_NAME"],
            "DOUBLE"
        );
        // The batches come in exactly that schema.
        let (batches, streamed) = fetch(&mut client, &info).await;
        assert!(!batches.is_empty());
        assert_eq!(streamed.as_ref(), Some(&announced));
        for b in &batches {
            assert_eq!(b.schema().as_ref(), &announced);
        }

        // GetSchema of the statement.
        let statement = CommandStatementQuery {
            query: sql.to_string(),
            transaction_id: None,
        };
        let schema = schema_of(
            get_schema(&client, statement.as_any().encode_to_vec())
                .await
                .unwrap(),
        );
        assert_eq!(schema, announced);
        // ... of a prepared statement, the same as its dataset schema.
        let prepared = client
            .prepare(
                "SELECT case_type, count(*) AS n FROM cases GROUP BY 1".into(),
                None,
            )
            .await
            .unwrap();
        let dataset = prepared.dataset_schema().unwrap().clone();
        assert_eq!(
            dataset.field_with_name("case_type").unwrap().metadata()["ARROW:FLIGHT:SQL:TABLE_NAME"],
            "cases"
        );
        // ... of a catalogue call, the schema its answer comes in.
        let tables = CommandGetTables {
            include_schema: true,
            ..Default::default()
        };
        let schema = schema_of(
            get_schema(&client, tables.as_any().encode_to_vec())
                .await
                .unwrap(),
        );
        let info = client.get_tables(tables).await.unwrap();
        assert_eq!(schema, info.try_decode_schema().unwrap());
        // A mistake in the statement is one, at GetSchema too.
        let wrong = CommandStatementQuery {
            query: "SELECT no_such_column FROM cases".to_string(),
            transaction_id: None,
        };
        let error = get_schema(&client, wrong.as_any().encode_to_vec())
            .await
            .unwrap_err();
        assert_eq!(error.code(), tonic::Code::InvalidArgument, "{error}");
        assert!(error.message().contains("no_such_column"), "{error}");
    });
}

/// Under the safe policy GetSchema plans and checks, but releases nothing: a row-level query is
/// refused as at GetFlightInfo, and an aggregate's schema leaves no release behind.
#[test]
fn get_schema_under_the_safe_policy_refuses_rows_and_releases_nothing() {
    let releases = crate::empty_scratch("flight-get-schema-safe-releases");
    let server = Server::start_with(
        "flight-get-schema-safe",
        "safe",
        &["--release-dir".as_ref(), releases.as_os_str()],
        None,
    );
    runtime().block_on(async {
        let client = connect(&server).await;
        let statement = |sql: &str| {
            CommandStatementQuery {
                query: sql.to_string(),
                transaction_id: None,
            }
            .as_any()
            .encode_to_vec()
        };
        let refused = get_schema(&client, statement("SELECT * FROM people"))
            .await
            .unwrap_err();
        assert_eq!(refused.code(), tonic::Code::PermissionDenied, "{refused}");
        let schema = get_schema(
            &client,
            statement(
                "SELECT * FROM safe_table('SELECT case_type, count(*) AS n FROM cases GROUP BY 1')",
            ),
        )
        .await
        .expect("a safe table's schema");
        let schema = schema_of(schema);
        assert!(schema.field_with_name("case_type").is_ok(), "{schema:?}");
        // A plain aggregate, which the safe policy releases as soon as it is planned for
        // GetFlightInfo: GetSchema plans it too, but only to check it.
        let plain = "SELECT region, count(*) AS n FROM cases GROUP BY 1";
        let plain_schema = schema_of(get_schema(&client, statement(plain)).await.unwrap());
        assert!(plain_schema.field_with_name("region").is_ok());
        assert!(released(&releases).is_empty(), "GetSchema released");
        let mut client = client;
        client.execute(plain.to_string(), None).await.unwrap();
        assert_eq!(
            released(&releases).len(),
            1,
            "GetFlightInfo of the aggregate released"
        );
        // The safe_table statement fetched is a release too, and leaves its files.
        let info = client
            .execute(
                "SELECT * FROM safe_table('SELECT case_type, count(*) AS n FROM cases GROUP BY 1')"
                    .to_string(),
                None,
            )
            .await
            .unwrap();
        assert_eq!(info.clone().try_decode_schema().unwrap(), schema);
        assert_eq!(
            fetch_one(&mut client, &info).await.num_columns(),
            schema.fields().len()
        );
        assert_eq!(released(&releases).len(), 2, "the fetch released");
    });
}

fn released(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    crate::files_under(dir)
        .into_iter()
        .filter(|p| p.extension().is_some_and(|e| e == "json"))
        .collect()
}

/// GetSchema, with the client's token.
async fn get_schema(
    client: &Client,
    command: Vec<u8>,
) -> Result<arrow_flight::SchemaResult, tonic::Status> {
    let mut inner = client.inner().clone();
    let mut request = tonic::Request::new(FlightDescriptor::new_cmd(command));
    let token = client.token().expect("logged in");
    request
        .metadata_mut()
        .insert("authorization", format!("Bearer {token}").parse().unwrap());
    inner.get_schema(request).await.map(|r| r.into_inner())
}

fn schema_of(result: arrow_flight::SchemaResult) -> Schema {
    Schema::try_from(arrow_flight::IpcMessage(result.schema)).unwrap()
}

async fn cancel(client: &mut Client, info: &FlightInfo) -> Result<CancelStatus, tonic::Status> {
    let request = CancelFlightInfoRequest::new(info.clone());
    let action = Action::new("CancelFlightInfo", request.encode_to_vec());
    let mut results = client.do_action(action).await.map_err(|e| match e {
        arrow_flight::error::FlightError::Tonic(status) => *status,
        other => panic!("{other}"),
    })?;
    let result = results.try_next().await?.expect("a result");
    let result = CancelFlightInfoResult::decode(result.body).unwrap();
    Ok(CancelStatus::try_from(result.status).unwrap())
}

/// CancelFlightInfo stops a query being fetched: the client gets CANCELLED (not a short result
/// that looks whole), and the query's turn is given back, so with one query at a time the next
/// one runs. A query cancelled before its fetch cannot be fetched; one that has finished cannot
/// be cancelled.
#[test]
fn cancel_flight_info_stops_the_query_and_frees_its_turn() {
    let server = Server::start_with(
        "flight-cancel",
        "open",
        &["--max-running".as_ref(), "1".as_ref()],
        None,
    );
    runtime().block_on(async {
        let mut client = connect(&server).await;
        // Billions of rows: it would run for hours.
        let endless = "SELECT a.event_id, b.event_id AS other FROM events a CROSS JOIN events b";
        let info = client.execute(endless.to_string(), None).await.unwrap();
        let ticket = info.endpoint[0].ticket.clone().unwrap();
        let mut stream = client.do_get(ticket).await.unwrap();
        let first = stream.try_next().await.unwrap().expect("a first batch");
        assert!(first.num_rows() > 0);
        assert_eq!(
            cancel(&mut client, &info).await.unwrap(),
            CancelStatus::Cancelled
        );
        let ending = tokio::time::timeout(Duration::from_secs(60), async {
            loop {
                match stream.try_next().await {
                    Ok(Some(_)) => continue,
                    Ok(None) => return Ok(()),
                    Err(e) => return Err(e),
                }
            }
        })
        .await
        .expect("the stream ends soon after the cancel");
        match ending {
            Err(arrow_flight::error::FlightError::Tonic(status)) => {
                assert_eq!(status.code(), tonic::Code::Cancelled, "{status}")
            }
            other => panic!("expected CANCELLED, got {other:?}"),
        }
        // The only turn is free again: the next query runs.
        let next = tokio::time::timeout(Duration::from_secs(60), async {
            let info = client
                .execute("SELECT count(*) AS n FROM cases".to_string(), None)
                .await
                .unwrap();
            fetch(&mut client, &info).await.0
        })
        .await
        .expect("the next query is not kept waiting");
        assert_eq!(next[0].num_rows(), 1);
        // It has finished: nothing left to cancel.
        let gone = cancel(&mut client, &info).await.unwrap_err();
        assert_eq!(gone.code(), tonic::Code::NotFound, "{gone}");

        // Cancelled before its fetch: the ticket is no longer good.
        let info = client.execute(endless.to_string(), None).await.unwrap();
        assert_eq!(
            cancel(&mut client, &info).await.unwrap(),
            CancelStatus::Cancelled
        );
        let ticket = info.endpoint[0].ticket.clone().unwrap();
        let refused = match client.do_get(ticket).await {
            Err(e) => e,
            Ok(mut s) => s.try_next().await.unwrap_err(),
        };
        assert!(
            refused.to_string().contains("unknown or already fetched"),
            "{refused}"
        );
    });
}
