//! Files the commands write for the user.

use std::io;
use std::path::Path;

use super::CliError;

/// Writes `text` to a temporary file beside `path`, then renames it over
/// `path`, so a failure never leaves a truncated file behind.
pub fn write_replacing(path: &Path, text: &str) -> Result<(), CliError> {
    let error = |source| CliError::WriteFile {
        path: path.to_owned(),
        source,
    };
    let file_name = path.file_name().ok_or_else(|| {
        error(io::Error::new(
            io::ErrorKind::InvalidInput,
            "not a file name",
        ))
    })?;
    let mut temp_name = std::ffi::OsString::from(".");
    temp_name.push(file_name);
    temp_name.push(format!(".{}.tmp", std::process::id()));
    let temp = path.with_file_name(temp_name);
    std::fs::write(&temp, text)
        .and_then(|()| std::fs::rename(&temp, path))
        .map_err(|source| {
            let _ = std::fs::remove_file(&temp);
            error(source)
        })
}
