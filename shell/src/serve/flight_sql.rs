//! The Flight SQL calls fjq answers: the handshake (basic authentication, then a bearer token),
//! statements and prepared statements with `$1` parameters, and the catalogue calls.
//!
//! A query is planned when the client asks for its FlightInfo (so errors and the schema come
//! back at once, and under the safe policy the release happens then), kept under a random
//! handle, and executed when the client fetches the ticket. Dropping the fetch drops the stream,
//! which cancels the query.

use super::auth::base64_decode;
use super::service::{
    FjqFlightSql, Prepared, announced, conform, decode_error, handle, one_line, query_error,
};
use arrow_flight::error::FlightError;
use arrow_flight::flight_service_server::FlightService;
use arrow_flight::sql::server::{FlightSqlService, PeekableFlightDataStream};
use arrow_flight::sql::{
    ActionClosePreparedStatementRequest, ActionCreatePreparedStatementRequest,
    ActionCreatePreparedStatementResult, Any, CommandGetCatalogs, CommandGetDbSchemas,
    CommandGetSqlInfo, CommandGetTableTypes, CommandGetTables, CommandPreparedStatementQuery,
    CommandStatementQuery, DoPutPreparedStatementResult, ProstMessageExt, SqlInfo,
    TicketStatementQuery,
};
use arrow_flight::{
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
        let pending = self
            .pending
            .lock()
            .expect("pending lock")
            .remove(ticket.statement_handle.as_ref())
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
        // The turn is held until the stream ends or the client goes away.
        let batches = stream
            .map_err(move |e| FlightError::Tonic(Box::new(failed(e))))
            .map(move |b| {
                let _ = &turn;
                b.and_then(|b| conform(b, &announced).map_err(FlightError::Arrow))
            });
        Ok(Self::stream(schema, batches))
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
        let IpcMessage(dataset_schema) =
            SchemaAsIpc::new(&announced(plan.schema().as_arrow()), &options)
                .try_into()
                .map_err(|e: datafusion::arrow::error::ArrowError| {
                    Status::internal(e.to_string())
                })?;
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
        let ctx = self.engine.context();
        for catalog_name in ctx.catalog_names() {
            if let Some(catalog) = ctx.catalog(&catalog_name) {
                for schema in catalog.schema_names() {
                    builder.append(&catalog_name, schema);
                }
            }
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
        let ctx = self.engine.context();
        for catalog_name in ctx.catalog_names() {
            let Some(catalog) = ctx.catalog(&catalog_name) else {
                continue;
            };
            for schema_name in catalog.schema_names() {
                let Some(schema) = catalog.schema(&schema_name) else {
                    continue;
                };
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
                    builder
                        .append(
                            &catalog_name,
                            &schema_name,
                            &table,
                            kind,
                            &provider.schema(),
                        )
                        .map_err(Status::from)?;
                }
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
