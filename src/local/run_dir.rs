//! This run's directory and the files local creates in it: new, the
//! user's alone, never through a link planted there.

use std::io::{self, Write};
use std::path::{Path, PathBuf};

use super::{LocalError, io_error};
use crate::logs::local::latest_run_link;

/// This run's directory (the functions' logs, the token secret, moto's
/// socket), which `chatstack logs --local` reads: a new directory with a
/// random name, only the user's (0700), never one that existed; the link
/// to the latest run's directory is replaced (atomically, as other runs
/// may read it).
pub(super) fn create() -> Result<PathBuf, LocalError> {
    use std::os::unix::fs::DirBuilderExt;
    let dir = loop {
        let dir =
            std::env::temp_dir().join(format!("chatstack-local-{}", super::ids::random_hex(8)?));
        match std::fs::DirBuilder::new().mode(0o700).create(&dir) {
            Ok(()) => break dir,
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => continue,
            Err(e) => return Err(LocalError::Io(format!("creating {}", dir.display()), e)),
        }
    };
    let link = latest_run_link();
    if let Some(parent) = link.parent() {
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(parent)
            .map_err(io_error(format!("creating {}", parent.display())))?;
    }
    let staged = link.with_extension(format!("{}.new", std::process::id()));
    let _ = std::fs::remove_file(&staged);
    std::os::unix::fs::symlink(&dir, &staged)
        .and_then(|()| std::fs::rename(&staged, &link))
        .map_err(io_error(format!(
            "linking {} to this run's logs",
            link.display()
        )))?;
    Ok(dir)
}

/// Writes `text` to a new file readable by its owner only.
pub(super) fn write_private(path: &Path, text: &str) -> Result<(), LocalError> {
    create_private(path, false)?
        .write_all(text.as_bytes())
        .map_err(io_error(format!("writing {}", path.display())))
}

/// Writes `value` as JSON to `path`, as [`write_private`] does.
pub(super) fn write_private_json(
    path: &Path,
    value: &impl serde::Serialize,
) -> Result<(), LocalError> {
    let text =
        serde_json::to_string_pretty(value).map_err(|e| LocalError::Template(e.to_string()))?;
    write_private(path, &text)
}

/// Creates `path`, a file that must not exist yet, readable and writable
/// by its owner only; a link planted there is not followed.
pub(crate) fn create_private(path: &Path, append: bool) -> Result<std::fs::File, LocalError> {
    use std::os::unix::fs::OpenOptionsExt;
    std::fs::OpenOptions::new()
        .write(true)
        .append(append)
        .create_new(true)
        .mode(0o600)
        .custom_flags(libc::O_NOFOLLOW)
        .open(path)
        .map_err(io_error(format!("creating {}", path.display())))
}
