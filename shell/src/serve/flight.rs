//! The Flight service as the network sees it: every call goes to the Flight SQL service
//! ([`super::flight_sql`]), except GetSchema, which arrow-flight's Flight SQL layer leaves
//! unanswered and fjq answers here: the schema a statement, a prepared statement or a catalogue
//! call would return, without running it (and, under the safe policy, without releasing it).

use super::metadata;
use super::service::{FjqFlightSql, announced, decode_error, query_error};
use arrow_flight::flight_service_server::FlightService;
use arrow_flight::sql::{Any, Command};
use arrow_flight::{
    Action, Criteria, Empty, FlightData, FlightDescriptor, FlightInfo, HandshakeRequest, PollInfo,
    SchemaAsIpc, SchemaResult,
};
use datafusion::arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use datafusion::arrow::ipc::writer::IpcWriteOptions;
use prost::Message;
use std::sync::Arc;
use tonic::{Request, Response, Status, Streaming};

/// The service `fjq serve` runs.
pub struct FjqFlight(pub Arc<FjqFlightSql>);

type Inner = FjqFlightSql;

#[tonic::async_trait]
impl FlightService for FjqFlight {
    type HandshakeStream = <Inner as FlightService>::HandshakeStream;
    type ListFlightsStream = <Inner as FlightService>::ListFlightsStream;
    type DoGetStream = <Inner as FlightService>::DoGetStream;
    type DoPutStream = <Inner as FlightService>::DoPutStream;
    type DoActionStream = <Inner as FlightService>::DoActionStream;
    type ListActionsStream = <Inner as FlightService>::ListActionsStream;
    type DoExchangeStream = <Inner as FlightService>::DoExchangeStream;

    async fn handshake(
        &self,
        request: Request<Streaming<HandshakeRequest>>,
    ) -> Result<Response<Self::HandshakeStream>, Status> {
        FlightService::handshake(&*self.0, request).await
    }

    async fn list_flights(
        &self,
        request: Request<Criteria>,
    ) -> Result<Response<Self::ListFlightsStream>, Status> {
        FlightService::list_flights(&*self.0, request).await
    }

    async fn get_flight_info(
        &self,
        request: Request<FlightDescriptor>,
    ) -> Result<Response<FlightInfo>, Status> {
        FlightService::get_flight_info(&*self.0, request).await
    }

    async fn poll_flight_info(
        &self,
        request: Request<FlightDescriptor>,
    ) -> Result<Response<PollInfo>, Status> {
        FlightService::poll_flight_info(&*self.0, request).await
    }

    async fn get_schema(
        &self,
        request: Request<FlightDescriptor>,
    ) -> Result<Response<SchemaResult>, Status> {
        let user = self.0.user(&request)?;
        let any = Any::decode(&*request.get_ref().cmd).map_err(decode_error)?;
        let command = Command::try_from(any).map_err(decode_error)?;
        let schema = self.schema_of(command, &user).await?;
        let result: SchemaResult = SchemaAsIpc::new(&schema, &IpcWriteOptions::default())
            .try_into()
            .map_err(|e: datafusion::arrow::error::ArrowError| {
                Status::internal(format!("cannot encode the schema: {e}"))
            })?;
        Ok(Response::new(result))
    }

    async fn do_get(
        &self,
        request: Request<arrow_flight::Ticket>,
    ) -> Result<Response<Self::DoGetStream>, Status> {
        FlightService::do_get(&*self.0, request).await
    }

    async fn do_put(
        &self,
        request: Request<Streaming<FlightData>>,
    ) -> Result<Response<Self::DoPutStream>, Status> {
        FlightService::do_put(&*self.0, request).await
    }

    async fn do_exchange(
        &self,
        request: Request<Streaming<FlightData>>,
    ) -> Result<Response<Self::DoExchangeStream>, Status> {
        FlightService::do_exchange(&*self.0, request).await
    }

    async fn do_action(
        &self,
        request: Request<Action>,
    ) -> Result<Response<Self::DoActionStream>, Status> {
        FlightService::do_action(&*self.0, request).await
    }

    async fn list_actions(
        &self,
        request: Request<Empty>,
    ) -> Result<Response<Self::ListActionsStream>, Status> {
        FlightService::list_actions(&*self.0, request).await
    }
}

impl FjqFlight {
    /// The schema the command's FlightInfo would announce.
    async fn schema_of(&self, command: Command, user: &str) -> Result<SchemaRef, Status> {
        let service = &self.0;
        Ok(match command {
            Command::CommandStatementQuery(query) => service.statement_schema(&query.query).await?,
            Command::CommandPreparedStatementQuery(query) => {
                let sql = service.prepared_sql(&query.prepared_statement_handle, user)?;
                service.statement_schema(&sql).await?
            }
            Command::CommandGetCatalogs(query) => query.into_builder().schema(),
            Command::CommandGetDbSchemas(query) => query.into_builder().schema(),
            Command::CommandGetTables(query) => query.into_builder().schema(),
            Command::CommandGetTableTypes(_) => Arc::new(Schema::new(vec![Field::new(
                "table_type",
                DataType::Utf8,
                false,
            )])),
            Command::CommandGetSqlInfo(query) => query.into_builder(&service.sql_info).schema(),
            Command::CommandGetXdbcTypeInfo(query) => {
                query.into_builder(&service.xdbc_types).schema()
            }
            Command::CommandGetPrimaryKeys(_) => metadata::primary_keys_schema(),
            Command::CommandGetImportedKeys(_)
            | Command::CommandGetExportedKeys(_)
            | Command::CommandGetCrossReference(_) => metadata::foreign_keys_schema(),
            other => {
                return Err(Status::unimplemented(format!(
                    "fjq has no schema for {}",
                    other.type_url()
                )));
            }
        })
    }
}

impl FjqFlightSql {
    /// The schema a statement's result will be announced with, from its plan, without running
    /// or releasing anything. A statement the policy refuses is refused here too.
    pub(super) async fn statement_schema(&self, sql: &str) -> Result<SchemaRef, Status> {
        let engine = self.engine_for_query()?;
        let plan = engine
            .context()
            .state()
            .create_logical_plan(sql)
            .await
            .map_err(|e| query_error(e.into()))?;
        engine.check_policy(&plan).map_err(query_error)?;
        Ok(announced(engine.context(), plan.schema(), Some(&plan)))
    }
}
