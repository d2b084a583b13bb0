//! The Flight SQL calls fjq answers: the handshake (basic authentication, then a bearer token),
//! statements and prepared statements with `$1` parameters, the catalogue calls, the facts and
//! keys tools ask for ([`super::metadata`]), and cancellation. GetSchema is in [`super::flight`].
//!
//! A query is planned when the client asks for its FlightInfo (so errors and the schema come
//! back at once, and under the safe policy the release happens then), kept under a random
//! handle, and executed when the client fetches the ticket. Dropping the fetch drops the stream,
//! which cancels the query; so does CancelFlightInfo, which also tells the client CANCELLED.

use super::auth::base64_decode;
use super::metadata::{self, KeyFilter};
use super::service::{
    FjqFlightSql, Prepared, announced, conform, decode_error, handle, one_line, query_error,
};
use arrow_flight::error::FlightError;
use arrow_flight::flight_service_server::FlightService;
use arrow_flight::sql::server::{FlightSqlService, PeekableFlightDataStream};
use arrow_flight::sql::{
    ActionCancelQueryRequest, ActionCancelQueryResult, ActionClosePreparedStatementRequest,
    ActionCreatePreparedStatementRequest, ActionCreatePreparedStatementResult, Any,
    CommandGetCatalogs, CommandGetCrossReference, CommandGetDbSchemas, CommandGetExportedKeys,
    CommandGetImportedKeys, CommandGetPrimaryKeys, CommandGetSqlInfo, CommandGetTableTypes,
    CommandGetTables, CommandGetXdbcTypeInfo, CommandPreparedStatementQuery, CommandStatementQuery,
    DoPutPreparedStatementResult, ProstMessageExt, SqlInfo, TicketStatementQuery,
};
use arrow_flight::{
    Action, ActionType, CancelFlightInfoRequest, CancelFlightInfoResult, CancelStatus,
    FlightDescriptor, FlightEndpoint, FlightInfo, HandshakeRequest, HandshakeResponse, IpcMessage,
    SchemaAsIpc, Ticket,
};
use datafusion::arrow::array::RecordBatch;
use datafusion::arrow::datatypes::{Field, Schema};
use datafusion::arrow::ipc::writer::IpcWriteOptions;
use datafusion::common::ScalarValue;
use futures::{Stream, StreamExt, TryStreamExt};
use prost::Message;
use std::pin::Pin;
use std::sync::Arc;
use tonic::metadata::MetadataValue;
use tonic::{Request, Response, Status, Streaming};

#[tonic::async_trait]
impl FlightSqlService for FjqFlightSql {
    type FlightService = FjqFlightSql;

    async fn do_handshake(
        &self,
        request: Request<Streaming<HandshakeRequest>>,
    ) -> Result<
        Response<Pin<Box<dyn Stream<Item = Result<HandshakeResponse, Status>> + Send>>>,
        Status,
    > {
        let Some(users) = &self.users else {
            // No login: any handshake succeeds. Clients that log in anyway (the ADBC driver
            // with a user name) expect a bearer token back, so one is sent; it is not checked.
            let output = futures::stream::iter(vec![Ok(HandshakeResponse {
                protocol_version: 0,
                payload: Default::default(),
            })]);
            let mut response: Response<Pin<Box<dyn Stream<Item = _> + Send>>> =
                Response::new(Box::pin(output));
            response.metadata_mut().insert(
                "authorization",
                MetadataValue::from_static("Bearer anonymous"),
            );
            return Ok(response);
        };
        let header = request
            .metadata()
            .get("authorization")
            .ok_or_else(|| Status::unauthenticated("no credentials: use basic authentication"))?
            .to_str()
            .map_err(|_| Status::unauthenticated("unreadable authorization header"))?;
        let encoded = header
            .strip_prefix("Basic ")
            .ok_or_else(|| Status::unauthenticated("expected basic authentication"))?;
        let decoded = base64_decode(encoded)
            .ok_or_else(|| Status::unauthenticated("malformed basic authentication"))?;
        let (user, password) = decoded
            .split_once(':')
            .ok_or_else(|| Status::unauthenticated("malformed basic authentication"))?;
        let ok = {
            let (users_hashes, user_s, password_s) =
                (users, user.to_string(), password.to_string());
            // Password hashing is slow by design: keep it off the async workers.
            tokio::task::block_in_place(|| users_hashes.verify(&user_s, &password_s))
        };
        if !ok {
            eprintln!("fjq serve: failed login for user {user:?}");
            return Err(Status::unauthenticated("wrong user name or password"));
        }
        let token = self.tokens.issue(user);
        eprintln!("fjq serve: {user} authenticated");
        let output = futures::stream::iter(vec![Ok(HandshakeResponse {
            protocol_version: 0,
            payload: token.clone().into(),
        })]);
        let mut response: Response<Pin<Box<dyn Stream<Item = _> + Send>>> =
            Response::new(Box::pin(output));
        let value = MetadataValue::try_from(format!("Bearer {token}"))
            .map_err(|_| Status::internal("token"))?;
        response.metadata_mut().insert("authorization", value);
        Ok(response)
    }

    async fn get_flight_info_statement(
        &self,
        query: CommandStatementQuery,
        request: Request<FlightDescriptor>,
    ) -> Result<Response<FlightInfo>, Status> {
        let user = self.user(&request)?;
        let frame = self.plan_sql(&query.query, &user).await?;
        let (id, schema) = self.keep(frame, &user);
        Ok(Response::new(self.flight_info(
            &schema,
            id,
            request.into_inner(),
        )?))
    }

    async fn do_get_statement(
        &self,
        ticket: TicketStatementQuery,
        request: Request<Ticket>,
    ) -> Result<Response<<Self as FlightService>::DoGetStream>, Status> {
        let user = self.user(&request)?;
        let handle = ticket.statement_handle.to_vec();
        let pending = self
            .pending
            .lock()
            .expect("pending lock")
            .remove(&handle)
            .ok_or_else(|| Status::not_found("unknown or already fetched statement"))?;
        if pending.user != user {
            return Err(Status::permission_denied(
                "this statement belongs to another user",
            ));
        }
        let turn = self.turn().await?;
        let plan = pending.frame.logical_plan().clone();
        let engine = Arc::clone(&self.engine);
        // A failure while running may be a file damaged since the server started: name it.
        let failed = move |e: datafusion::error::DataFusionError| {
            query_error(engine.explain_failure(Some(&plan), e))
        };
        let stream = pending
            .frame
            .execute_stream()
            .await
            .map_err(failed.clone())?;
        let schema = pending.schema;
        let announced = schema.clone();
        // The turn is held until the stream ends, the client goes away or cancels.
        let fetching = self.fetching(handle, &user);
        let batches = stream
            .map_err(move |e| FlightError::Tonic(Box::new(failed(e))))
            .map(move |b| {
                let _ = &turn;
                b.and_then(|b| conform(b, &announced).map_err(FlightError::Arrow))
            });
        Ok(Self::stream(schema, fetching.stop_on_cancel(batches)))
    }

    async fn do_action_create_prepared_statement(
        &self,
        query: ActionCreatePreparedStatementRequest,
        request: Request<arrow_flight::Action>,
    ) -> Result<ActionCreatePreparedStatementResult, Status> {
        let user = self.user(&request)?;
        let engine = self.engine_for_query()?;
        let plan = engine
            .context()
            .state()
            .create_logical_plan(&query.query)
            .await
            .map_err(|e| query_error(e.into()))?;
        engine.check_policy(&plan).map_err(query_error)?;
        let mut parameters: Vec<(String, Option<datafusion::arrow::datatypes::DataType>)> = plan
            .get_parameter_types()
            .map_err(|e| query_error(e.into()))?
            .into_iter()
            .collect();
        parameters
            .sort_by_key(|(name, _)| name.trim_start_matches('$').parse::<usize>().unwrap_or(0));
        let parameter_fields: Vec<Field> = parameters
            .iter()
            .map(|(name, t)| {
                Field::new(
                    name,
                    t.clone()
                        .unwrap_or(datafusion::arrow::datatypes::DataType::Utf8),
                    true,
                )
            })
            .collect();
        let options = IpcWriteOptions::default();
        let IpcMessage(dataset_schema) = SchemaAsIpc::new(
            &announced(engine.context(), plan.schema(), Some(&plan)),
            &options,
        )
        .try_into()
        .map_err(|e: datafusion::arrow::error::ArrowError| Status::internal(e.to_string()))?;
        let parameter_schema = if parameter_fields.is_empty() {
            Default::default()
        } else {
            let IpcMessage(bytes) =
                SchemaAsIpc::new(&Schema::new(parameter_fields.clone()), &options)
                    .try_into()
                    .map_err(|e: datafusion::arrow::error::ArrowError| {
                        Status::internal(e.to_string())
                    })?;
            bytes
        };
        let id = handle();
        self.prepared.lock().expect("prepared lock").insert(
            id.clone(),
            Prepared {
                sql: query.query,
                parameters: parameter_fields,
                values: None,
                user,
            },
        );
        Ok(ActionCreatePreparedStatementResult {
            prepared_statement_handle: id.into(),
            dataset_schema,
            parameter_schema,
        })
    }

    async fn do_put_prepared_statement_query(
        &self,
        query: CommandPreparedStatementQuery,
        request: Request<PeekableFlightDataStream>,
    ) -> Result<DoPutPreparedStatementResult, Status> {
        let user = self.user(&request)?;
        let stream = arrow_flight::decode::FlightRecordBatchStream::new_from_flight_data(
            request.into_inner().map_err(FlightError::from),
        );
        let batches: Vec<RecordBatch> = stream.try_collect().await.map_err(decode_error)?;
        let mut values = Vec::new();
        if let Some(batch) = batches.iter().find(|b| b.num_rows() > 0) {
            if batches.iter().map(|b| b.num_rows()).sum::<usize>() > 1 {
                return Err(Status::invalid_argument(
                    "one set of parameters at a time: bind a single row",
                ));
            }
            for column in batch.columns() {
                values.push(ScalarValue::try_from_array(column, 0).map_err(decode_error)?);
            }
        }
        let mut prepared = self.prepared.lock().expect("prepared lock");
        let statement = prepared
            .get_mut(query.prepared_statement_handle.as_ref())
            .ok_or_else(|| Status::not_found("unknown prepared statement"))?;
        if statement.user != user {
            return Err(Status::permission_denied(
                "this statement belongs to another user",
            ));
        }
        statement.values = Some(values);
        Ok(DoPutPreparedStatementResult {
            prepared_statement_handle: Some(query.prepared_statement_handle),
        })
    }

    async fn get_flight_info_prepared_statement(
        &self,
        query: CommandPreparedStatementQuery,
        request: Request<FlightDescriptor>,
    ) -> Result<Response<FlightInfo>, Status> {
        let user = self.user(&request)?;
        let (sql, parameters, values) = {
            let prepared = self.prepared.lock().expect("prepared lock");
            let statement = prepared
                .get(query.prepared_statement_handle.as_ref())
                .ok_or_else(|| Status::not_found("unknown prepared statement"))?;
            if statement.user != user {
                return Err(Status::permission_denied(
                    "this statement belongs to another user",
                ));
            }
            (
                statement.sql.clone(),
                statement.parameters.clone(),
                statement.values.clone(),
            )
        };
        let engine = self.engine_for_query()?;
        let mut plan = engine
            .context()
            .state()
            .create_logical_plan(&sql)
            .await
            .map_err(|e| query_error(e.into()))?;
        let mut text = sql.clone();
        if !parameters.is_empty() {
            let Some(values) = values else {
                return Err(Status::invalid_argument(format!(
                    "the statement takes {} parameters and none were bound",
                    parameters.len()
                )));
            };
            if values.len() != parameters.len() {
                return Err(Status::invalid_argument(format!(
                    "the statement takes {} parameters, {} were bound",
                    parameters.len(),
                    values.len()
                )));
            }
            let cast: Vec<ScalarValue> = values
                .into_iter()
                .zip(&parameters)
                .map(|(v, f)| v.cast_to(f.data_type()))
                .collect::<Result<_, _>>()
                .map_err(|e| Status::invalid_argument(format!("parameter types: {e}")))?;
            text.push_str(&format!(
                " -- parameters: {}",
                cast.iter()
                    .map(|v| v.to_string())
                    .collect::<Vec<_>>()
                    .join(", ")
            ));
            plan = plan
                .with_param_values(cast)
                .map_err(|e| query_error(e.into()))?;
        }
        let frame = {
            let _turn = self.turn().await?;
            engine
                .plan_logical(plan, &text)
                .await
                .map_err(query_error)?
        };
        eprintln!("fjq serve: {user}: {}", one_line(&text));
        let (id, schema) = self.keep(frame, &user);
        Ok(Response::new(self.flight_info(
            &schema,
            id,
            request.into_inner(),
        )?))
    }

    async fn do_action_close_prepared_statement(
        &self,
        query: ActionClosePreparedStatementRequest,
        request: Request<arrow_flight::Action>,
    ) -> Result<(), Status> {
        let _ = self.user(&request)?;
        self.prepared
            .lock()
            .expect("prepared lock")
            .remove(query.prepared_statement_handle.as_ref());
        Ok(())
    }

    async fn get_flight_info_catalogs(
        &self,
        query: CommandGetCatalogs,
        request: Request<FlightDescriptor>,
    ) -> Result<Response<FlightInfo>, Status> {
        self.user(&request)?;
        let schema = query.into_builder().schema();
        metadata_info(&schema, query.as_any(), request.into_inner())
    }

    async fn do_get_catalogs(
        &self,
        query: CommandGetCatalogs,
        request: Request<Ticket>,
    ) -> Result<Response<<Self as FlightService>::DoGetStream>, Status> {
        self.user(&request)?;
        let mut builder = query.into_builder();
        for catalog in self.engine.context().catalog_names() {
            builder.append(catalog);
        }
        let schema = builder.schema();
        Ok(Self::one_batch(schema, builder.build()))
    }

    async fn get_flight_info_schemas(
        &self,
        query: CommandGetDbSchemas,
        request: Request<FlightDescriptor>,
    ) -> Result<Response<FlightInfo>, Status> {
        self.user(&request)?;
        let schema = query.clone().into_builder().schema();
        metadata_info(&schema, query.as_any(), request.into_inner())
    }

    async fn do_get_schemas(
        &self,
        query: CommandGetDbSchemas,
        request: Request<Ticket>,
    ) -> Result<Response<<Self as FlightService>::DoGetStream>, Status> {
        self.user(&request)?;
        let mut builder = query.into_builder();
        for (catalog, schema, _) in metadata::schemas(self.engine.context()) {
            builder.append(catalog, schema);
        }
        let schema = builder.schema();
        Ok(Self::one_batch(schema, builder.build()))
    }

    async fn get_flight_info_tables(
        &self,
        query: CommandGetTables,
        request: Request<FlightDescriptor>,
    ) -> Result<Response<FlightInfo>, Status> {
        self.user(&request)?;
        let schema = query.clone().into_builder().schema();
        metadata_info(&schema, query.as_any(), request.into_inner())
    }

    async fn do_get_tables(
        &self,
        query: CommandGetTables,
        request: Request<Ticket>,
    ) -> Result<Response<<Self as FlightService>::DoGetStream>, Status> {
        self.user(&request)?;
        let mut builder = query.into_builder();
        for (catalog_name, schema_name, schema) in metadata::schemas(self.engine.context()) {
            let mut names = schema.table_names();
            names.sort();
            for table in names {
                let Ok(Some(provider)) = schema.table(&table).await else {
                    continue;
                };
                let kind = match provider.table_type() {
                    datafusion::logical_expr::TableType::View => "VIEW",
                    _ => "TABLE",
                };
                let table_schema =
                    metadata::table_schema(&provider.schema(), &catalog_name, &schema_name, &table);
                builder
                    .append(&catalog_name, &schema_name, &table, kind, &table_schema)
                    .map_err(Status::from)?;
            }
        }
        let schema = builder.schema();
        Ok(Self::one_batch(schema, builder.build()))
    }

    async fn get_flight_info_table_types(
        &self,
        query: CommandGetTableTypes,
        request: Request<FlightDescriptor>,
    ) -> Result<Response<FlightInfo>, Status> {
        self.user(&request)?;
        let schema = Arc::new(Schema::new(vec![Field::new(
            "table_type",
            datafusion::arrow::datatypes::DataType::Utf8,
            false,
        )]));
        metadata_info(&schema, query.as_any(), request.into_inner())
    }

    async fn do_get_table_types(
        &self,
        _query: CommandGetTableTypes,
        request: Request<Ticket>,
    ) -> Result<Response<<Self as FlightService>::DoGetStream>, Status> {
        self.user(&request)?;
        let schema = Arc::new(Schema::new(vec![Field::new(
            "table_type",
            datafusion::arrow::datatypes::DataType::Utf8,
            false,
        )]));
        let batch = RecordBatch::try_new(
            schema.clone(),
            vec![Arc::new(datafusion::arrow::array::StringArray::from(vec![
                "TABLE", "VIEW",
            ]))],
        );
        Ok(Self::one_batch(schema, batch))
    }

    async fn get_flight_info_sql_info(
        &self,
        query: CommandGetSqlInfo,
        request: Request<FlightDescriptor>,
    ) -> Result<Response<FlightInfo>, Status> {
        self.user(&request)?;
        let schema = query.clone().into_builder(&self.sql_info).schema();
        metadata_info(&schema, query.as_any(), request.into_inner())
    }

    async fn do_get_sql_info(
        &self,
        query: CommandGetSqlInfo,
        request: Request<Ticket>,
    ) -> Result<Response<<Self as FlightService>::DoGetStream>, Status> {
        self.user(&request)?;
        let builder = query.into_builder(&self.sql_info);
        let schema = builder.schema();
        Ok(Self::one_batch(schema, builder.build()))
    }

    async fn get_flight_info_xdbc_type_info(
        &self,
        query: CommandGetXdbcTypeInfo,
        request: Request<FlightDescriptor>,
    ) -> Result<Response<FlightInfo>, Status> {
        self.user(&request)?;
        let schema = query.into_builder(&self.xdbc_types).schema();
        metadata_info(&schema, query.as_any(), request.into_inner())
    }

    async fn do_get_xdbc_type_info(
        &self,
        query: CommandGetXdbcTypeInfo,
        request: Request<Ticket>,
    ) -> Result<Response<<Self as FlightService>::DoGetStream>, Status> {
        self.user(&request)?;
        let builder = query.into_builder(&self.xdbc_types);
        let schema = builder.schema();
        Ok(Self::one_batch(schema, builder.build()))
    }

    async fn get_flight_info_primary_keys(
        &self,
        query: CommandGetPrimaryKeys,
        request: Request<FlightDescriptor>,
    ) -> Result<Response<FlightInfo>, Status> {
        self.user(&request)?;
        metadata_info(
            &metadata::primary_keys_schema(),
            query.as_any(),
            request.into_inner(),
        )
    }

    async fn do_get_primary_keys(
        &self,
        query: CommandGetPrimaryKeys,
        request: Request<Ticket>,
    ) -> Result<Response<<Self as FlightService>::DoGetStream>, Status> {
        self.user(&request)?;
        let tables = metadata::keyed_tables(self.engine.context());
        let batch = metadata::primary_keys(&tables, &query.catalog, &query.db_schema, &query.table);
        Ok(Self::one_batch(metadata::primary_keys_schema(), batch))
    }

    async fn get_flight_info_imported_keys(
        &self,
        query: CommandGetImportedKeys,
        request: Request<FlightDescriptor>,
    ) -> Result<Response<FlightInfo>, Status> {
        self.user(&request)?;
        foreign_keys_info(query.as_any(), request)
    }

    async fn do_get_imported_keys(
        &self,
        query: CommandGetImportedKeys,
        request: Request<Ticket>,
    ) -> Result<Response<<Self as FlightService>::DoGetStream>, Status> {
        self.user(&request)?;
        let filter = KeyFilter {
            fk: Some((query.catalog, query.db_schema, query.table)),
            pk: None,
        };
        Ok(self.foreign_keys(&filter))
    }

    async fn get_flight_info_exported_keys(
        &self,
        query: CommandGetExportedKeys,
        request: Request<FlightDescriptor>,
    ) -> Result<Response<FlightInfo>, Status> {
        self.user(&request)?;
        foreign_keys_info(query.as_any(), request)
    }

    async fn do_get_exported_keys(
        &self,
        query: CommandGetExportedKeys,
        request: Request<Ticket>,
    ) -> Result<Response<<Self as FlightService>::DoGetStream>, Status> {
        self.user(&request)?;
        let filter = KeyFilter {
            fk: None,
            pk: Some((query.catalog, query.db_schema, query.table)),
        };
        Ok(self.foreign_keys(&filter))
    }

    async fn get_flight_info_cross_reference(
        &self,
        query: CommandGetCrossReference,
        request: Request<FlightDescriptor>,
    ) -> Result<Response<FlightInfo>, Status> {
        self.user(&request)?;
        foreign_keys_info(query.as_any(), request)
    }

    async fn do_get_cross_reference(
        &self,
        query: CommandGetCrossReference,
        request: Request<Ticket>,
    ) -> Result<Response<<Self as FlightService>::DoGetStream>, Status> {
        self.user(&request)?;
        let filter = KeyFilter {
            fk: Some((query.fk_catalog, query.fk_db_schema, query.fk_table)),
            pk: Some((query.pk_catalog, query.pk_db_schema, query.pk_table)),
        };
        Ok(self.foreign_keys(&filter))
    }

    async fn do_action_cancel_query(
        &self,
        query: ActionCancelQueryRequest,
        request: Request<Action>,
    ) -> Result<ActionCancelQueryResult, Status> {
        let user = self.user(&request)?;
        let info = FlightInfo::decode(query.info)
            .map_err(|e| Status::invalid_argument(format!("cannot decode the FlightInfo: {e}")))?;
        let status = self.cancel(&info, &user)?;
        // CancelQuery's result uses its own enumeration, numbered as CancelStatus is.
        Ok(ActionCancelQueryResult {
            result: status as i32,
        })
    }

    async fn do_action_fallback(
        &self,
        request: Request<Action>,
    ) -> Result<Response<<Self as FlightService>::DoActionStream>, Status> {
        if request.get_ref().r#type != CANCEL_FLIGHT_INFO {
            return Err(Status::invalid_argument(format!(
                "fjq does not know the action {:?}",
                request.get_ref().r#type
            )));
        }
        let user = self.user(&request)?;
        let cancel = CancelFlightInfoRequest::decode(request.get_ref().body.clone())
            .map_err(|e| Status::invalid_argument(format!("cannot decode the request: {e}")))?;
        let info = cancel
            .info
            .ok_or_else(|| Status::invalid_argument("CancelFlightInfo without a FlightInfo"))?;
        let status = self.cancel(&info, &user)?;
        let result = CancelFlightInfoResult::new(status);
        let output = futures::stream::iter(vec![Ok(arrow_flight::Result {
            body: result.encode_to_vec().into(),
        })]);
        Ok(Response::new(Box::pin(output)))
    }

    async fn list_custom_actions(&self) -> Option<Vec<Result<ActionType, Status>>> {
        Some(vec![Ok(ActionType {
            r#type: CANCEL_FLIGHT_INFO.to_string(),
            description: "Cancels a query: its FlightInfo is forgotten, or its fetch stopped.\n
                Request Message: CancelFlightInfoRequest\n
                Response Message: CancelFlightInfoResult"
                .into(),
        })])
    }

    async fn do_get_fallback(
        &self,
        request: Request<Ticket>,
        message: Any,
    ) -> Result<Response<<Self as FlightService>::DoGetStream>, Status> {
        self.user(&request)?;
        Err(Status::unimplemented(format!(
            "fjq does not serve {}",
            message.type_url
        )))
    }

    async fn register_sql_info(&self, _id: i32, _result: &SqlInfo) {}
}

/// The Flight action (not a Flight SQL one) by which clients cancel a query.
const CANCEL_FLIGHT_INFO: &str = "CancelFlightInfo";

impl FjqFlightSql {
    fn foreign_keys(&self, filter: &KeyFilter) -> Response<<Self as FlightService>::DoGetStream> {
        let tables = metadata::keyed_tables(self.engine.context());
        Self::one_batch(
            metadata::foreign_keys_schema(),
            metadata::foreign_keys(&tables, filter),
        )
    }

    /// Cancels the statement a FlightInfo's ticket names: forgets it if it was not fetched yet,
    /// stops its fetch if it is being fetched.
    #[allow(clippy::result_large_err)]
    fn cancel(&self, info: &FlightInfo, user: &str) -> Result<CancelStatus, Status> {
        let ticket = info
            .endpoint
            .first()
            .and_then(|e| e.ticket.as_ref())
            .ok_or_else(|| Status::invalid_argument("the FlightInfo has no ticket to cancel"))?;
        let any = Any::decode(&*ticket.ticket).map_err(decode_error)?;
        let Some(statement) = any.unpack::<TicketStatementQuery>().map_err(decode_error)? else {
            return Ok(CancelStatus::NotCancellable);
        };
        let handle = statement.statement_handle.to_vec();
        {
            let mut pending = self.pending.lock().expect("pending lock");
            if let Some(p) = pending.get(&handle) {
                if p.user != user {
                    return Err(Status::permission_denied(
                        "this statement belongs to another user",
                    ));
                }
                pending.remove(&handle);
                eprintln!("fjq serve: {user}: cancelled before it was fetched");
                return Ok(CancelStatus::Cancelled);
            }
        }
        let fetching = self.fetching.lock().expect("fetching lock");
        match fetching.get(&handle) {
            Some((owner, _)) if owner != user => Err(Status::permission_denied(
                "this statement belongs to another user",
            )),
            Some((_, abort)) => {
                abort.abort();
                eprintln!("fjq serve: {user}: cancelled while it was fetched");
                Ok(CancelStatus::Cancelled)
            }
            None => Err(Status::not_found(
                "no such statement: it has finished, or was never planned",
            )),
        }
    }
}

/// The FlightInfo of the three foreign-key calls, which share one schema.
#[allow(clippy::result_large_err)]
fn foreign_keys_info(
    command: Any,
    request: Request<FlightDescriptor>,
) -> Result<Response<FlightInfo>, Status> {
    metadata_info(
        &metadata::foreign_keys_schema(),
        command,
        request.into_inner(),
    )
}

#[allow(clippy::result_large_err)]
fn metadata_info(
    schema: &Schema,
    command: Any,
    descriptor: FlightDescriptor,
) -> Result<Response<FlightInfo>, Status> {
    let endpoint = FlightEndpoint::new().with_ticket(Ticket::new(command.encode_to_vec()));
    let info = FlightInfo::new()
        .try_with_schema(schema)
        .map_err(|e| Status::internal(format!("cannot encode the schema: {e}")))?
        .with_endpoint(endpoint)
        .with_descriptor(descriptor);
    Ok(Response::new(info))
}
