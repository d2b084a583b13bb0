//! Where SQL may touch files. Under the open policy, `COPY ... TO` and `CREATE EXTERNAL TABLE`
//! may use only the data, output and release directories; under the safe policy results are
//! written only inside the release directory. Paths are resolved (`..`, symbolic links) before
//! they are compared, so neither can lead outside.

use crate::error::{EngineError, Result};
use crate::safe::Policy;
use datafusion::logical_expr::{DdlStatement, LogicalPlan};
use std::path::{Component, Path, PathBuf};

/// The directories SQL may use, and the policy that decides which.
#[derive(Debug, Clone)]
pub(crate) struct Sandbox {
    pub policy: Policy,
    pub data_dir: PathBuf,
    pub output_dir: Option<PathBuf>,
    pub release_dir: Option<PathBuf>,
}

impl Sandbox {
    /// Whether `path` is somewhere results may be written under the policy: anywhere when
    /// open; inside the release directory when safe.
    pub fn may_write(&self, path: &Path) -> Result<()> {
        if self.policy == Policy::Open {
            return Ok(());
        }
        let target = absolute(path);
        match self.release_dir.as_deref() {
            Some(dir) if target.starts_with(dir) => Ok(()),
            Some(dir) => Err(EngineError::Refused(format!(
                "{} is outside the release directory {}: under the safe policy results are written only there",
                target.display(),
                dir.display()
            ))),
            None => Err(EngineError::Refused(
                "under the safe policy results are written only to the release directory (--release-dir)".into(),
            )),
        }
    }

    /// Checks the files a statement reads or writes (COPY ... TO, CREATE EXTERNAL TABLE).
    pub fn check_plan(&self, plan: &LogicalPlan) -> Result<()> {
        let (verb, locations) = match plan {
            LogicalPlan::Copy(copy) => ("COPY ... TO", vec![copy.output_url.clone()]),
            LogicalPlan::Ddl(DdlStatement::CreateExternalTable(t)) => {
                ("CREATE EXTERNAL TABLE", t.locations.clone())
            }
            _ => return Ok(()),
        };
        for location in locations {
            self.check_location(verb, &location)?;
        }
        Ok(())
    }

    fn check_location(&self, verb: &str, location: &str) -> Result<()> {
        if location.contains("://") && !location.starts_with("file://") {
            return Err(EngineError::Refused(format!(
                "{verb} {location}: only local files in the data or output directory are allowed"
            )));
        }
        let path = absolute(Path::new(
            location.strip_prefix("file://").unwrap_or(location),
        ));
        let allowed = std::iter::once(self.data_dir.as_path())
            .chain(self.output_dir.as_deref())
            .chain(self.release_dir.as_deref());
        for dir in allowed {
            if path.starts_with(dir) {
                return Ok(());
            }
        }
        Err(EngineError::Refused(format!(
            "{verb} {}: outside the data directory ({}){}",
            path.display(),
            self.data_dir.display(),
            match &self.output_dir {
                Some(d) => format!(" and the output directory ({})", d.display()),
                None => String::new(),
            }
        )))
    }
}

/// A path made absolute against the current directory, with `.` and `..` resolved lexically
/// (the file need not exist yet) and symbolic links resolved in the part that exists.
pub(crate) fn absolute(path: &Path) -> PathBuf {
    let joined = if path.is_absolute() {
        path.to_path_buf()
    } else {
        std::env::current_dir().unwrap_or_default().join(path)
    };
    let mut out = PathBuf::new();
    for part in joined.components() {
        match part {
            Component::ParentDir => {
                out.pop();
            }
            Component::CurDir => {}
            other => out.push(other),
        }
    }
    let mut existing = out.clone();
    let mut rest = Vec::new();
    while !existing.exists() {
        match existing.file_name() {
            Some(name) => rest.push(name.to_os_string()),
            None => break,
        }
        existing.pop();
    }
    let mut resolved = existing.canonicalize().unwrap_or(existing);
    for name in rest.into_iter().rev() {
        resolved.push(name);
    }
    resolved
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dot_dot_cannot_leave_the_release_directory() {
        let root = std::env::temp_dir().join("fjq-sandbox-test");
        let sandbox = Sandbox {
            policy: Policy::Safe,
            data_dir: root.join("data"),
            output_dir: None,
            release_dir: Some(absolute(&root.join("releases"))),
        };
        assert!(sandbox.may_write(&root.join("releases/r.csv")).is_ok());
        let e = sandbox
            .may_write(&root.join("releases/../out.csv"))
            .unwrap_err();
        assert!(matches!(e, EngineError::Refused(_)), "{e}");
    }
}
