//! Reading a data directory's `dataset.json`, with errors that name the file and the field.

use crate::error::{EngineError, Result};
use fjq_contract::DatasetInfo;
use std::path::Path;

/// Reads and checks `DIR/dataset.json`.
pub(crate) fn read(data_dir: &Path) -> Result<DatasetInfo> {
    let path = data_dir.join(DatasetInfo::FILE_NAME);
    let text = match std::fs::read_to_string(&path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Err(EngineError::DatasetJsonMissing { path });
        }
        Err(e) => {
            return Err(EngineError::DatasetJsonInvalid {
                path,
                message: e.to_string(),
            });
        }
    };
    let info: DatasetInfo =
        serde_json::from_str(&text).map_err(|e| EngineError::DatasetJsonInvalid {
            path: path.clone(),
            message: e.to_string(),
        })?;
    info.check()
        .map_err(|message| EngineError::DatasetJsonInvalid { path, message })?;
    Ok(info)
}
