//! What the unit tests of fjq's physical optimizer rules share: running a query over an
//! in-memory table with one rule added to DataFusion's, and reading back its plan and rows.

use datafusion::arrow::util::pretty::pretty_format_batches;
use datafusion::datasource::MemTable;
use datafusion::execution::SessionStateBuilder;
use datafusion::physical_optimizer::PhysicalOptimizerRule;
use datafusion::physical_plan::displayable;
use datafusion::prelude::{SessionConfig, SessionContext};
use std::sync::Arc;

/// Runs `sql` over `table` (registered as `t`) in a session of `config` with `rule` added:
/// the physical plan's text and the rows as a pretty table.
pub async fn plan_and_rows(
    sql: &str,
    table: MemTable,
    config: SessionConfig,
    rule: Arc<dyn PhysicalOptimizerRule + Send + Sync>,
) -> (String, String) {
    let state = SessionStateBuilder::new()
        .with_config(config)
        .with_default_features()
        .with_physical_optimizer_rule(rule)
        .build();
    let context = SessionContext::new_with_state(state);
    context.register_table("t", Arc::new(table)).unwrap();
    let frame = context.sql(sql).await.unwrap();
    let plan = frame.clone().create_physical_plan().await.unwrap();
    let plan_text = displayable(plan.as_ref()).indent(false).to_string();
    let rows = frame.collect().await.unwrap();
    (plan_text, pretty_format_batches(&rows).unwrap().to_string())
}
