//! What local needs before it starts anything: the handlers' sources,
//! moto, and the handler binaries (built unless the user said not to).

use std::io::Write;
use std::path::PathBuf;

use super::app::LocalApp;
use super::{LocalError, LocalOptions, dynamo};

/// What local needs, checked before a build that takes minutes: the
/// handlers' sources (when it builds them) and moto; moto's path.
pub(super) fn check(options: &LocalOptions) -> Result<PathBuf, LocalError> {
    if options.build && !options.handlers.dir().join("Cargo.toml").is_file() {
        return Err(LocalError::NoHandlers(options.handlers.dir().to_owned()));
    }
    dynamo::find_moto(options.handlers.dir())
}

/// The directory of the handler binaries, built first unless the user
/// said not to; every function of `app` must have its binary there.
pub(super) fn handler_binaries(
    options: &LocalOptions,
    app: &LocalApp,
    out: &mut dyn Write,
) -> Result<PathBuf, LocalError> {
    if options.build {
        options
            .handlers
            .build_binaries(out)
            .map_err(|e| LocalError::Build(e.to_string()))?;
    }
    let binaries = options.handlers.local_binaries_dir();
    for function in app.functions.values() {
        let binary = binaries.join(function.binary);
        if !binary.is_file() {
            return Err(LocalError::Build(format!(
                "{} is missing: run `cargo build --bins` in {}, or drop --no-build",
                binary.display(),
                options.handlers.dir().display()
            )));
        }
    }
    Ok(binaries)
}
