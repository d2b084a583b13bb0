//! Exceptions (design/DISCLOSURE.md; ACRO's `add_exception(output, reason)`): the researcher's
//! case for a release in `review`, recorded in its `results.json` as `exception` for the output
//! checker. From SQL, `SELECT add_exception('release-0002', 'why')`; from the shell,
//! `\exception release-0002 why`. The report is rewritten with its checksum, and the release log
//! gets an entry for the change, so the log's chain still vouches for every file it names.

use super::release::Releaser;
use super::release::store::Store;
use crate::{EngineError, Result};
use datafusion::arrow::array::{Array, AsArray, StringBuilder};
use datafusion::arrow::compute::cast;
use datafusion::arrow::datatypes::DataType;
use datafusion::logical_expr::{
    ColumnarValue, ScalarFunctionArgs, ScalarUDFImpl, Signature, Volatility,
};
use std::hash::{Hash, Hasher};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// How long a call waits for a release in progress to finish before giving up.
const WAIT_FOR_RELEASE: Duration = Duration::from_secs(60);

impl Releaser {
    /// Records `reason` as the exception for release `id` (which must be in `review`).
    pub fn add_exception(&self, id: &str, reason: &str) -> Result<String> {
        let reason = reason.trim();
        if reason.is_empty() {
            return Err(EngineError::Invalid(
                "an exception needs a reason: the case for publishing the output as it is, for the output checker".into(),
            ));
        }
        let Some(dir) = self.dir.as_deref() else {
            return Err(EngineError::Invalid(
                "no release directory: start fjq with --release-dir DIR".into(),
            ));
        };
        // Called from a function, so not async: wait for a release in progress by polling.
        let started = Instant::now();
        let _guard = loop {
            match self.lock.try_lock() {
                Ok(guard) => break guard,
                Err(_) if started.elapsed() < WAIT_FOR_RELEASE => {
                    std::thread::sleep(Duration::from_millis(20))
                }
                Err(_) => {
                    return Err(EngineError::Invalid(
                        "a release is still being written; try again".into(),
                    ));
                }
            }
        };
        Store::open(dir)?.record_exception(id, reason)?;
        Ok(format!(
            "{id}: exception recorded in {} for the output checker",
            dir.join(id).join(super::report::REPORT_FILE).display()
        ))
    }
}

/// `add_exception(release, reason)`: records the exception; returns what was done.
#[derive(Debug)]
pub struct AddException {
    pub releaser: Arc<Releaser>,
    signature: Signature,
}

impl AddException {
    pub fn new(releaser: Arc<Releaser>) -> AddException {
        AddException {
            releaser,
            signature: Signature::any(2, Volatility::Volatile),
        }
    }
}

impl PartialEq for AddException {
    fn eq(&self, other: &Self) -> bool {
        Arc::ptr_eq(&self.releaser, &other.releaser)
    }
}

impl Eq for AddException {}

impl Hash for AddException {
    fn hash<H: Hasher>(&self, state: &mut H) {
        "add_exception".hash(state);
    }
}

impl ScalarUDFImpl for AddException {
    fn name(&self) -> &str {
        "add_exception"
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn return_type(&self, _arg_types: &[DataType]) -> datafusion::common::Result<DataType> {
        Ok(DataType::Utf8)
    }

    fn invoke_with_args(
        &self,
        args: ScalarFunctionArgs,
    ) -> datafusion::common::Result<ColumnarValue> {
        let arrays = ColumnarValue::values_to_arrays(&args.args)?;
        let text = |i: usize| cast(&arrays[i], &DataType::Utf8);
        let (ids, reasons) = (text(0)?, text(1)?);
        let (ids, reasons) = (ids.as_string::<i32>(), reasons.as_string::<i32>());
        let mut out = StringBuilder::new();
        for row in 0..ids.len() {
            if ids.is_null(row) || reasons.is_null(row) {
                return datafusion::common::plan_err!(
                    "add_exception(release, reason): both are needed, e.g. add_exception('release-0002', 'the suppressed cells are ...')"
                );
            }
            let done = self
                .releaser
                .add_exception(ids.value(row), reasons.value(row))
                .map_err(|e| datafusion::common::DataFusionError::External(Box::new(e)))?;
            out.append_value(done);
        }
        let array: Arc<dyn Array> = Arc::new(out.finish());
        Ok(
            if args
                .args
                .iter()
                .all(|a| matches!(a, ColumnarValue::Scalar(_)))
            {
                ColumnarValue::Scalar(datafusion::common::ScalarValue::try_from_array(&array, 0)?)
            } else {
                ColumnarValue::Array(array)
            },
        )
    }
}
