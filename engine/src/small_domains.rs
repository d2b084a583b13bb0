//! Grouping by booleans, whose groups are numbered by arithmetic instead of a hash table.
//!
//! A research table often ends in a grouping by a few yes/no answers: returned within two,
//! three and seven years (`CAST(returns_within(...) AS INT)`), met the 26-week limit, found in
//! Cafcass. Each such key has three values (NULL, false, true), so a row's group is a number
//! below 3^k, computed from the keys' bitmaps without hashing or comparing anything; a table of
//! 3^k slots turns it into the accumulators' group index. DataFusion hashes such keys and compares
//! them column by column: 0.49 s of compute for 6.3M rows in fourteen groups in the returns
//! query at scale 1.0 (docs/BENCHMARK.md).
//!
//! [`SmallDomainsRule`] replaces an aggregate over raw, unordered input whose every key is a
//! boolean expression, or a `CAST` of one to another type, up to [`MAX_KEYS`] keys; the
//! aggregates must be plain (see `crate::sorted_aggregate::plain_grouping`). A cast key is
//! grouped by its boolean and cast once per group when the groups are emitted, with the
//! cast's own options, so the keys come out as DataFusion's would. The groups are few, so they
//! are all emitted at the end of the input.
//!
//! `SET fjq.small_domain_aggregation = false` leaves such aggregates as DataFusion planned them.

use crate::sorted_aggregate::{
    Aggregation, GroupFinder, Grouping, OwnAggregateExec, OwnAggregateRule, plain_grouping,
};
use datafusion::arrow::array::{Array, ArrayRef, AsArray, BooleanArray, RecordBatch};
use datafusion::arrow::datatypes::DataType;
use datafusion::common::{Result, exec_err};
use datafusion::execution::TaskContext;
use datafusion::logical_expr::{ColumnarValue, EmitTo};
use datafusion::physical_expr::PhysicalExpr;
use datafusion::physical_expr::expressions::CastExpr;
use datafusion::physical_plan::InputOrderMode;
use datafusion::physical_plan::aggregates::{AggregateExec, AggregateMode};
use fjq_udfs::FjqOptions;
use std::sync::Arc;

/// The most keys grouped this way: 3^8 = 6,561 slots.
pub const MAX_KEYS: usize = 8;

/// A slot not yet given a group.
const NO_GROUP: u32 = u32::MAX;

/// Replaces aggregates grouped by booleans with [`SmallDomainAggregateExec`].
pub type SmallDomainsRule = OwnAggregateRule<ByDomains>;

/// An `AggregateExec` grouped by booleans, its groups numbered by arithmetic.
pub type SmallDomainAggregateExec = OwnAggregateExec<ByDomains>;

/// Grouping by booleans.
#[derive(Debug)]
pub struct ByDomains;

impl GroupFinder for ByDomains {
    const NAME: &'static str = "SmallDomainAggregateExec";
    const RULE: &'static str = "fjq_small_domain_aggregation";

    fn switched_on(options: &FjqOptions) -> bool {
        options.small_domain_aggregation
    }

    /// Raw, unordered input (ordered input is `SortedRunAggregateExec`'s), one to
    /// [`MAX_KEYS`] keys, each a boolean or a cast of one.
    fn applies(aggregate: &AggregateExec) -> Result<bool> {
        let keys = aggregate.group_expr().input_exprs();
        if keys.len() > MAX_KEYS {
            return Ok(false);
        }
        let input_schema = aggregate.input_schema();
        for key in &keys {
            if BooleanKey::of(key, &input_schema)?.is_none() {
                return Ok(false);
            }
        }
        plain_grouping(
            aggregate,
            &[
                AggregateMode::Partial,
                AggregateMode::Single,
                AggregateMode::SinglePartitioned,
            ],
            InputOrderMode::Linear,
            |_| true,
        )
    }

    fn start(aggregation: Aggregation, _context: &TaskContext) -> Result<Box<dyn Grouping>> {
        let schema = aggregation.input_schema();
        let keys = aggregation
            .group_exprs()
            .iter()
            .map(|key| match BooleanKey::of(key, &schema)? {
                Some(key) => Ok(key),
                None => exec_err!("fjq small-domain aggregation: the key {key} is not a boolean"),
            })
            .collect::<Result<Vec<_>>>()?;
        let slots = 3usize.pow(keys.len() as u32);
        Ok(Box::new(Domains {
            aggregation,
            keys,
            group_of_slot: vec![NO_GROUP; slots],
            slot_of_group: Vec::new(),
            row_slots: Vec::new(),
            group_indices: Vec::new(),
        }))
    }
}

/// A key as a boolean, and the cast that makes the key's value from it, if any.
struct BooleanKey {
    boolean: Arc<dyn PhysicalExpr>,
    cast: Option<CastExpr>,
}

impl BooleanKey {
    fn of(
        key: &Arc<dyn PhysicalExpr>,
        schema: &datafusion::arrow::datatypes::Schema,
    ) -> Result<Option<BooleanKey>> {
        if key.data_type(schema)? == DataType::Boolean {
            return Ok(Some(BooleanKey {
                boolean: Arc::clone(key),
                cast: None,
            }));
        }
        match key.downcast_ref::<CastExpr>() {
            Some(cast) if cast.expr().data_type(schema)? == DataType::Boolean => {
                Ok(Some(BooleanKey {
                    boolean: Arc::clone(cast.expr()),
                    cast: Some(cast.clone()),
                }))
            }
            _ => Ok(None),
        }
    }

    /// The key's values for the booleans `values`, as DataFusion would have computed them.
    fn values(&self, values: BooleanArray) -> Result<ArrayRef> {
        let values = ColumnarValue::Array(Arc::new(values));
        let cast = match &self.cast {
            Some(cast) => values.cast_to(cast.cast_type(), Some(cast.cast_options()))?,
            None => values,
        };
        cast.into_array(0)
    }
}

/// One partition's grouping by booleans.
struct Domains {
    aggregation: Aggregation,
    keys: Vec<BooleanKey>,
    /// Each slot's group, in the order first seen. A slot is sum(code_i * 3^i) over the keys,
    /// code 0 for NULL, 1 for false and 2 for true.
    group_of_slot: Vec<u32>,
    slot_of_group: Vec<usize>,
    /// Buffers reused from batch to batch.
    row_slots: Vec<u16>,
    group_indices: Vec<usize>,
}

impl Grouping for Domains {
    fn add(&mut self, batch: &RecordBatch) -> Result<Vec<RecordBatch>> {
        let rows = batch.num_rows();
        if rows == 0 {
            return Ok(Vec::new());
        }
        self.row_slots.clear();
        self.row_slots.resize(rows, 0);
        let mut weight = 1u16;
        for key in &self.keys {
            let values = key.boolean.evaluate(batch)?.into_array(rows)?;
            let values = values.as_boolean();
            let bits = values.values();
            match values.nulls() {
                None => {
                    for (row, slot) in self.row_slots.iter_mut().enumerate() {
                        *slot += weight * (1 + u16::from(bits.value(row)));
                    }
                }
                Some(nulls) => {
                    for (row, slot) in self.row_slots.iter_mut().enumerate() {
                        let code =
                            u16::from(nulls.is_valid(row)) * (1 + u16::from(bits.value(row)));
                        *slot += weight * code;
                    }
                }
            }
            weight *= 3;
        }
        self.group_indices.clear();
        for &slot in &self.row_slots {
            let slot = usize::from(slot);
            let mut group = self.group_of_slot[slot];
            if group == NO_GROUP {
                group = self.slot_of_group.len() as u32;
                self.group_of_slot[slot] = group;
                self.slot_of_group.push(slot);
            }
            self.group_indices.push(group as usize);
        }
        self.aggregation
            .update(batch, &self.group_indices, self.slot_of_group.len(), None)?;
        let held = self.group_of_slot.len() * 4
            + self.slot_of_group.capacity() * 8
            + self.row_slots.capacity() * 2
            + self.group_indices.capacity() * 8;
        self.aggregation.reserve(held)?;
        Ok(Vec::new())
    }

    fn finish(&mut self) -> Result<Option<RecordBatch>> {
        if self.slot_of_group.is_empty() {
            self.aggregation.free();
            return Ok(None);
        }
        let mut weight = 1;
        let mut columns = Vec::with_capacity(self.keys.len());
        for key in &self.keys {
            let values = self
                .slot_of_group
                .iter()
                .map(|slot| match slot / weight % 3 {
                    0 => None,
                    code => Some(code == 2),
                })
                .collect::<BooleanArray>();
            columns.push(key.values(values)?);
            weight *= 3;
        }
        let batch = self.aggregation.emit(columns, EmitTo::All)?;
        self.aggregation.free();
        Ok(Some(batch))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use datafusion::arrow::array::Int64Array;
    use datafusion::arrow::datatypes::{Field, Schema, SchemaRef};
    use datafusion::datasource::MemTable;
    use datafusion::prelude::SessionConfig;

    /// Two partitions of batches of two boolean columns, with NULLs, and a number.
    fn partitions() -> (SchemaRef, Vec<Vec<RecordBatch>>) {
        let schema = Arc::new(Schema::new(vec![
            Field::new("a", DataType::Boolean, true),
            Field::new("b", DataType::Boolean, false),
            Field::new("v", DataType::Int64, true),
        ]));
        let batch = |rows: &[(Option<bool>, bool, Option<i64>)]| {
            RecordBatch::try_new(
                Arc::clone(&schema),
                vec![
                    Arc::new(rows.iter().map(|r| r.0).collect::<BooleanArray>()),
                    Arc::new(rows.iter().map(|r| Some(r.1)).collect::<BooleanArray>()),
                    Arc::new(rows.iter().map(|r| r.2).collect::<Int64Array>()),
                ],
            )
            .unwrap()
        };
        let first = vec![
            batch(&[
                (Some(true), true, Some(1)),
                (None, false, Some(2)),
                (Some(false), true, None),
            ]),
            batch(&[]),
            batch(&[(Some(true), true, Some(4)), (None, true, Some(8))]),
        ];
        let second = vec![batch(&[
            (None, false, Some(16)),
            (Some(false), false, Some(32)),
            (Some(true), true, Some(64)),
        ])];
        (schema, vec![first, second])
    }

    async fn run(sql: &str, config: SessionConfig) -> (String, String) {
        let (schema, parts) = partitions();
        let table = MemTable::try_new(schema, parts).unwrap();
        crate::test_support::plan_and_rows(
            sql,
            table,
            config.with_target_partitions(2),
            Arc::new(SmallDomainsRule::default()),
        )
        .await
    }

    /// Worked by hand from the rows above: (a, b) takes five of its six values; the NULL a
    /// is a group of its own, and a cast key comes out as the cast's integers.
    #[tokio::test]
    async fn boolean_and_cast_keys_group_across_batches_and_partitions() {
        let sql =
            "SELECT CAST(a AS INT) AS a, b, count(*) AS rows, count(v) AS known, sum(v) AS total
            FROM t GROUP BY CAST(a AS INT), b ORDER BY total";
        let (plan, rows) = run(sql, SessionConfig::new()).await;
        assert!(
            plan.contains("SmallDomainAggregateExec: mode=Partial"),
            "{plan}"
        );
        assert_eq!(
            rows,
            "\
+---+-------+------+-------+-------+
| a | b     | rows | known | total |
+---+-------+------+-------+-------+
|   | true  | 1    | 1     | 8     |
|   | false | 2    | 2     | 18    |
| 0 | false | 1    | 1     | 32    |
| 1 | true  | 3    | 3     | 69    |
| 0 | true  | 1    | 0     |       |
+---+-------+------+-------+-------+"
        );
    }

    /// A key that is not a boolean (here the number) leaves the aggregate to DataFusion.
    #[tokio::test]
    async fn other_keys_stay_datafusions() {
        let sql = "SELECT a, v, count(*) FROM t GROUP BY a, v";
        let (plan, rows) = run(sql, SessionConfig::new()).await;
        assert!(!plan.contains("SmallDomainAggregateExec"), "{plan}");
        assert_eq!(rows.lines().count(), 8 + 4, "eight groups\n{rows}");
    }

    #[tokio::test]
    async fn the_setting_leaves_datafusions_aggregate() {
        let mut config = SessionConfig::new();
        config.options_mut().extensions.insert(FjqOptions {
            small_domain_aggregation: false,
            ..FjqOptions::default()
        });
        let sql = "SELECT a, count(*) FROM t GROUP BY a";
        let (plan, _) = run(sql, config).await;
        assert!(!plan.contains("SmallDomainAggregateExec"), "{plan}");
        assert!(plan.contains("AggregateExec: mode=Partial"), "{plan}");
    }
}
