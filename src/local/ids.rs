//! The ids and keys local makes: unique ones (connection ids, log
//! streams) and unguessable ones (keys, secrets, the run directory's name).

use std::io;

use super::LocalError;

/// An id unique within this process and unlikely to repeat across runs:
/// the clock's low bits and a counter, in hex.
pub(crate) fn unique_hex() -> String {
    use std::sync::atomic::{AtomicU64, Ordering};
    static COUNTER: AtomicU64 = AtomicU64::new(1);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default()
        .as_nanos() as u64;
    let count = COUNTER.fetch_add(1, Ordering::Relaxed);
    format!("{:012x}{count:04x}", nanos & 0xffff_ffff_ffff)
}

/// `bytes` random bytes from the OS, in hex.
pub(crate) fn random_hex(bytes: usize) -> Result<String, LocalError> {
    let mut random = vec![0u8; bytes];
    getrandom::fill(&mut random).map_err(|e| {
        LocalError::Io(
            "reading random bytes from the OS".to_owned(),
            io::Error::other(e.to_string()),
        )
    })?;
    Ok(random.iter().map(|b| format!("{b:02x}")).collect())
}
