//! The scan of fjq's table functions (`safe_table`, `return_curve`): one partition whose batches
//! an async computation makes when the plan is executed, not when it is planned, so that
//! `EXPLAIN` releases and computes nothing. The computation gets the whole table; the scan's
//! projection is applied to what it returns.

use datafusion::arrow::array::RecordBatch;
use datafusion::arrow::datatypes::SchemaRef;
use datafusion::common::tree_node::TreeNodeRecursion;
use datafusion::common::{DataFusionError, Result};
use datafusion::execution::{SendableRecordBatchStream, TaskContext};
use datafusion::physical_expr::{EquivalenceProperties, PhysicalExpr};
use datafusion::physical_plan::execution_plan::{Boundedness, EmissionType};
use datafusion::physical_plan::stream::RecordBatchStreamAdapter;
use datafusion::physical_plan::{
    DisplayAs, DisplayFormatType, ExecutionPlan, Partitioning, PlanProperties,
};
use futures::future::BoxFuture;
use futures::{StreamExt, TryStreamExt};
use std::fmt;
use std::sync::Arc;

/// Makes the whole table's batches.
pub(crate) type Compute =
    Arc<dyn Fn() -> BoxFuture<'static, Result<Vec<RecordBatch>>> + Send + Sync>;

pub(crate) struct DeferredExec {
    /// What `EXPLAIN` shows, e.g. `SafeTableExec: <query>`.
    label: String,
    projection: Option<Vec<usize>>,
    schema: SchemaRef,
    properties: Arc<PlanProperties>,
    compute: Compute,
}

impl DeferredExec {
    /// The scan of `table_schema` with `projection`, made by `compute`.
    pub fn new(
        label: String,
        table_schema: &SchemaRef,
        projection: Option<&Vec<usize>>,
        compute: Compute,
    ) -> Result<DeferredExec> {
        let schema = match projection {
            Some(p) => Arc::new(table_schema.project(p)?),
            None => table_schema.clone(),
        };
        Ok(DeferredExec {
            label,
            projection: projection.cloned(),
            properties: Arc::new(PlanProperties::new(
                EquivalenceProperties::new(schema.clone()),
                Partitioning::UnknownPartitioning(1),
                EmissionType::Final,
                Boundedness::Bounded,
            )),
            schema,
            compute,
        })
    }
}

impl fmt::Debug for DeferredExec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.label)
    }
}

impl DisplayAs for DeferredExec {
    fn fmt_as(&self, _t: DisplayFormatType, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str(&self.label)
    }
}

impl ExecutionPlan for DeferredExec {
    fn name(&self) -> &str {
        self.label.split(':').next().unwrap_or("DeferredExec")
    }

    fn properties(&self) -> &Arc<PlanProperties> {
        &self.properties
    }

    fn children(&self) -> Vec<&Arc<dyn ExecutionPlan>> {
        vec![]
    }

    fn apply_expressions(
        &self,
        _f: &mut dyn FnMut(&Arc<dyn PhysicalExpr>) -> Result<TreeNodeRecursion>,
    ) -> Result<TreeNodeRecursion> {
        Ok(TreeNodeRecursion::Continue)
    }

    fn with_new_children(
        self: Arc<Self>,
        _children: Vec<Arc<dyn ExecutionPlan>>,
    ) -> Result<Arc<dyn ExecutionPlan>> {
        Ok(self)
    }

    fn execute(
        &self,
        _partition: usize,
        _context: Arc<TaskContext>,
    ) -> Result<SendableRecordBatchStream> {
        let (compute, projection) = (self.compute.clone(), self.projection.clone());
        let stream = futures::stream::once(async move {
            let batches: Vec<Result<RecordBatch>> = compute()
                .await?
                .into_iter()
                .map(|b| match &projection {
                    Some(p) => b.project(p).map_err(DataFusionError::from),
                    None => Ok(b),
                })
                .collect();
            Ok::<_, DataFusionError>(futures::stream::iter(batches))
        })
        .try_flatten()
        .boxed();
        Ok(Box::pin(RecordBatchStreamAdapter::new(
            self.schema.clone(),
            stream,
        )))
    }
}
