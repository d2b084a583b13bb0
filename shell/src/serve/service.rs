//! The Flight SQL service's state and what its calls share: the engine, the users and their
//! tokens, the queries planned and not yet fetched, the prepared statements, and the turns that
//! bound how many queries run at once. The calls themselves are in [`super::flight_sql`]. Each
//! query is planned through the engine (so the disclosure policy applies) with a memory pool of
//! its own, and streamed batch by batch.
//!
//! A query is planned when the client asks for its FlightInfo (so errors and the schema come
//! back at once, and under the safe policy the release happens then), kept under a random
//! handle, and executed when the client fetches the ticket. Dropping the fetch drops the stream,
//! which cancels the query.

use super::auth::{Tokens, Users};
use super::metadata;
use arrow_flight::encode::FlightDataEncoderBuilder;
use arrow_flight::error::FlightError;
use arrow_flight::sql::metadata::{SqlInfoData, XdbcTypeInfoData};
use arrow_flight::sql::{ProstMessageExt, TicketStatementQuery};
use arrow_flight::{FlightDescriptor, FlightEndpoint, FlightInfo, Ticket};
use datafusion::arrow::array::RecordBatch;
use datafusion::arrow::datatypes::{Field, Schema, SchemaRef};
use datafusion::common::ScalarValue;
use datafusion::dataframe::DataFrame;
use fjq_engine::Engine;
use futures::stream::{AbortHandle, AbortRegistration, Abortable};
use futures::{Stream, StreamExt, TryStreamExt};
use prost::Message;
use std::collections::HashMap;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tonic::{Request, Response, Status};

/// A query planned but not yet fetched is forgotten after this long.
const PENDING_LIFETIME: Duration = Duration::from_secs(600);

pub(super) struct Pending {
    pub(super) frame: DataFrame,
    /// The schema the client was told ([`announced`]); every batch is sent in it.
    pub(super) schema: SchemaRef,
    pub(super) user: String,
    pub(super) created: Instant,
}

pub(super) struct Prepared {
    pub(super) sql: String,
    pub(super) parameters: Vec<Field>,
    pub(super) values: Option<Vec<ScalarValue>>,
    pub(super) user: String,
}

pub struct FjqFlightSql {
    pub(super) engine: Arc<Engine>,
    /// None: no authentication (loopback only, without a users file).
    pub(super) users: Option<Users>,
    pub(super) tokens: Tokens,
    pub(super) query_memory: Option<usize>,
    pub(super) pending: Mutex<HashMap<Vec<u8>, Pending>>,
    pub(super) prepared: Mutex<HashMap<Vec<u8>, Prepared>>,
    pub(super) sql_info: SqlInfoData,
    pub(super) xdbc_types: XdbcTypeInfoData,
    /// Statements being fetched, by handle: CancelFlightInfo stops them through these.
    pub(super) fetching: Arc<Mutex<Fetches>>,
    /// Queries running at once; the others wait their turn (more would only share the same
    /// cores and multiply the memory in use).
    pub(super) running: Arc<tokio::sync::Semaphore>,
}

pub(super) fn handle() -> Vec<u8> {
    use rand_core::RngCore;
    let mut bytes = [0u8; 16];
    rand_core::OsRng.fill_bytes(&mut bytes);
    hex::encode(bytes).into_bytes()
}

/// An engine error as the client should see it, its status chosen by its kind: a refusal is
/// PERMISSION_DENIED with the reason, a mistake in the query INVALID_ARGUMENT, a dataset that
/// does not match the contract FAILED_PRECONDITION, a query over its memory RESOURCE_EXHAUSTED,
/// and a failure on the server's side (a release it could not write) INTERNAL.
pub(super) fn query_error(e: fjq_engine::EngineError) -> Status {
    use fjq_engine::ErrorKind;
    let text = e.to_string();
    match e.kind() {
        ErrorKind::Refused => Status::permission_denied(text),
        ErrorKind::Invalid => Status::invalid_argument(text),
        ErrorKind::Data => Status::failed_precondition(text),
        ErrorKind::OutOfMemory => Status::resource_exhausted(text),
        ErrorKind::Io | ErrorKind::Internal => Status::internal(text),
    }
}

pub(super) fn decode_error(e: impl std::fmt::Display) -> Status {
    Status::invalid_argument(format!("cannot decode the request: {e}"))
}

type DoGetStream = Pin<Box<dyn Stream<Item = Result<arrow_flight::FlightData, Status>> + Send>>;

impl FjqFlightSql {
    pub fn new(
        engine: Engine,
        users: Option<Users>,
        query_memory: Option<usize>,
        max_running: usize,
    ) -> Self {
        let sql_info = metadata::sql_info(engine.context());
        FjqFlightSql {
            engine: Arc::new(engine),
            users,
            tokens: Tokens::default(),
            query_memory,
            pending: Mutex::new(HashMap::new()),
            prepared: Mutex::new(HashMap::new()),
            sql_info,
            xdbc_types: metadata::xdbc_types(),
            fetching: Arc::new(Mutex::new(HashMap::new())),
            running: Arc::new(tokio::sync::Semaphore::new(max_running.max(1))),
        }
    }

    /// The user behind a call's bearer token; UNAUTHENTICATED without a valid one.
    #[allow(clippy::result_large_err)]
    pub(super) fn user<T>(&self, request: &Request<T>) -> Result<String, Status> {
        if self.users.is_none() {
            return Ok("anonymous".to_string());
        }
        let header = request
            .metadata()
            .get("authorization")
            .ok_or_else(|| Status::unauthenticated("no bearer token: authenticate first"))?
            .to_str()
            .map_err(|_| Status::unauthenticated("unreadable authorization header"))?;
        let token = header
            .strip_prefix("Bearer ")
            .ok_or_else(|| Status::unauthenticated("expected a bearer token"))?;
        self.tokens
            .user(token)
            .ok_or_else(|| Status::unauthenticated("invalid or expired token: authenticate again"))
    }

    /// The engine a query runs on: its own memory pool when a per-query limit is set.
    #[allow(clippy::result_large_err)]
    pub(super) fn engine_for_query(&self) -> Result<Engine, Status> {
        match self.query_memory {
            Some(limit) => self
                .engine
                .with_memory_limit(limit)
                .map_err(|e| Status::internal(e.to_string())),
            None => self
                .engine
                .with_memory_limit(usize::MAX)
                .map_err(|e| Status::internal(e.to_string())),
        }
    }

    pub(super) async fn turn(&self) -> Result<tokio::sync::OwnedSemaphorePermit, Status> {
        self.running
            .clone()
            .acquire_owned()
            .await
            .map_err(|_| Status::unavailable("the server is stopping"))
    }

    /// Keeps a planned statement for its DoGet; returns its handle and the schema to announce.
    pub(super) fn keep(&self, frame: DataFrame, user: &str) -> (Vec<u8>, SchemaRef) {
        let id = handle();
        let schema = announced(
            self.engine.context(),
            frame.schema(),
            Some(frame.logical_plan()),
        );
        let mut pending = self.pending.lock().expect("pending lock");
        pending.retain(|_, p| p.created.elapsed() < PENDING_LIFETIME);
        pending.insert(
            id.clone(),
            Pending {
                frame,
                schema: schema.clone(),
                user: user.to_string(),
                created: Instant::now(),
            },
        );
        (id, schema)
    }

    #[allow(clippy::result_large_err)]
    pub(super) fn flight_info(
        &self,
        schema: &Schema,
        id: Vec<u8>,
        descriptor: FlightDescriptor,
    ) -> Result<FlightInfo, Status> {
        let ticket = TicketStatementQuery {
            statement_handle: id.into(),
        };
        let endpoint =
            FlightEndpoint::new().with_ticket(Ticket::new(ticket.as_any().encode_to_vec()));
        FlightInfo::new()
            .try_with_schema(schema)
            .map_err(|e| Status::internal(format!("cannot encode the schema: {e}")))
            .map(|i| {
                i.with_endpoint(endpoint)
                    .with_descriptor(descriptor)
                    .with_ordered(true)
            })
    }

    /// Streams record batches as Flight data, batch by batch.
    pub(super) fn stream(
        schema: SchemaRef,
        batches: impl Stream<Item = Result<RecordBatch, FlightError>> + Send + 'static,
    ) -> Response<DoGetStream> {
        let stream = FlightDataEncoderBuilder::new()
            .with_schema(schema)
            .build(batches)
            .map_err(Status::from);
        Response::new(Box::pin(stream))
    }

    pub(super) fn one_batch<E>(
        schema: SchemaRef,
        batch: Result<RecordBatch, E>,
    ) -> Response<DoGetStream>
    where
        FlightError: From<E>,
    {
        let batch = batch.map_err(FlightError::from);
        Self::stream(schema, futures::stream::once(async move { batch }))
    }

    /// The SQL of a prepared statement of this user's.
    #[allow(clippy::result_large_err)]
    pub(super) fn prepared_sql(&self, handle: &[u8], user: &str) -> Result<String, Status> {
        let prepared = self.prepared.lock().expect("prepared lock");
        let statement = prepared
            .get(handle)
            .ok_or_else(|| Status::not_found("unknown prepared statement"))?;
        if statement.user != user {
            return Err(Status::permission_denied(
                "this statement belongs to another user",
            ));
        }
        Ok(statement.sql.clone())
    }

    /// Registers a statement whose fetch begins, so that CancelFlightInfo can stop it.
    pub(super) fn fetching(&self, handle: Vec<u8>, user: &str) -> Fetching {
        let (abort, registration) = AbortHandle::new_pair();
        self.fetching
            .lock()
            .expect("fetching lock")
            .insert(handle.clone(), (user.to_string(), abort.clone()));
        Fetching {
            handle,
            abort,
            registration,
            fetching: Arc::clone(&self.fetching),
        }
    }

    pub(super) async fn plan_sql(&self, sql: &str, user: &str) -> Result<DataFrame, Status> {
        // Planning may run a safe release: it takes a turn too.
        let _turn = self.turn().await?;
        let engine = self.engine_for_query()?;
        let frame = engine.sql(sql).await.map_err(query_error)?;
        eprintln!("fjq serve: {user}: {}", one_line(sql));
        Ok(frame)
    }
}

/// The statements being fetched: handle to owner and the handle that stops the fetch.
pub(super) type Fetches = HashMap<Vec<u8>, (String, AbortHandle)>;

/// A statement being fetched, until its stream ends or is dropped.
pub(super) struct Fetching {
    handle: Vec<u8>,
    abort: AbortHandle,
    registration: AbortRegistration,
    fetching: Arc<Mutex<Fetches>>,
}

/// Forgets a fetch when its stream goes, however it goes.
struct Untrack {
    handle: Vec<u8>,
    fetching: Arc<Mutex<Fetches>>,
}

impl Drop for Untrack {
    fn drop(&mut self) {
        if let Ok(mut fetching) = self.fetching.lock() {
            fetching.remove(&self.handle);
        }
    }
}

impl Fetching {
    /// `batches`, stopped when the statement is cancelled: the query's stream is dropped (which
    /// stops its work and gives back its turn) and the client gets CANCELLED, not a short result
    /// that looks whole.
    pub(super) fn stop_on_cancel(
        self,
        batches: impl Stream<Item = Result<RecordBatch, FlightError>> + Send + 'static,
    ) -> impl Stream<Item = Result<RecordBatch, FlightError>> + Send + 'static {
        let Fetching {
            handle,
            abort,
            registration,
            fetching,
        } = self;
        let untrack = Untrack { handle, fetching };
        let ending = futures::stream::once(async move {
            let _untrack = untrack;
            abort.is_aborted()
        })
        .filter_map(|cancelled| async move {
            cancelled.then(|| {
                Err(FlightError::Tonic(Box::new(Status::cancelled(
                    "the query was cancelled",
                ))))
            })
        });
        Abortable::new(batches, registration).chain(ending)
    }
}

pub(super) fn one_line(sql: &str) -> String {
    let s: String = sql.split_whitespace().collect::<Vec<_>>().join(" ");
    if s.chars().count() > 200 {
        format!("{}...", s.chars().take(200).collect::<String>())
    } else {
        s
    }
}

/// The schema a client is told for a result: the plan's, with every field nullable,
/// dictionaries as their values (the Flight encoder sends them so), string views as the strings
/// the engine's results carry (fjq_engine::result_types), and each column's Flight SQL
/// metadata (its SQL type, and its table when it comes from one). The batches a plan streams
/// can differ from its schema in nullability (DataFusion answers `min` and `max` from Parquet
/// statistics with non-nullable literals), and Flight clients such as the Go ADBC driver refuse
/// a stream whose schema differs from the one announced.
pub(super) fn announced(
    ctx: &datafusion::prelude::SessionContext,
    schema: &datafusion::common::DFSchema,
    plan: Option<&datafusion::logical_expr::LogicalPlan>,
) -> SchemaRef {
    let schema = metadata::with_column_metadata(ctx, schema, plan);
    fn hydrated(
        t: &datafusion::arrow::datatypes::DataType,
    ) -> datafusion::arrow::datatypes::DataType {
        match t {
            datafusion::arrow::datatypes::DataType::Dictionary(_, values) => hydrated(values),
            other => fjq_engine::result_types::result_type(other),
        }
    }
    Arc::new(
        Schema::new(
            schema
                .fields()
                .iter()
                .map(|f| {
                    f.as_ref()
                        .clone()
                        .with_data_type(hydrated(f.data_type()))
                        .with_nullable(true)
                })
                .collect::<Vec<_>>(),
        )
        .with_metadata(schema.metadata().clone()),
    )
}

/// `batch` in the announced `schema`: the same columns, cast where a type differs.
pub(super) fn conform(
    batch: RecordBatch,
    schema: &SchemaRef,
) -> Result<RecordBatch, datafusion::arrow::error::ArrowError> {
    if batch.schema() == *schema {
        return Ok(batch);
    }
    let columns = batch
        .columns()
        .iter()
        .zip(schema.fields())
        .map(|(c, f)| {
            if c.data_type() == f.data_type() {
                Ok(c.clone())
            } else {
                datafusion::arrow::compute::cast(c, f.data_type())
            }
        })
        .collect::<Result<Vec<_>, _>>()?;
    RecordBatch::try_new(schema.clone(), columns)
}
