//! Moving a damaged SQLite store aside, so that the broker starts with an empty one and the
//! damaged file is kept for inspection.

use std::ffi::OsString;
use std::io;
use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

use amqtt_core::store::StoreError;

/// The suffixes of SQLite's companion files (write-ahead log, shared memory index).
pub(crate) const COMPANIONS: [&str; 2] = ["-wal", "-shm"];

/// `path` with `suffix` appended to its file name.
pub(crate) fn with_suffix(path: &Path, suffix: &str) -> PathBuf {
    let mut name = OsString::from(path.as_os_str());
    name.push(suffix);
    PathBuf::from(name)
}

/// Renames `path` to `<path>.damaged-<unix seconds>` (with `-1`, `-2`, ... appended should that
/// exist) and its `-wal` and `-shm` files alongside, logs `why` with both names, and returns the
/// new name. The connection to the file must be closed.
pub(crate) fn move_aside(path: &Path, why: &str) -> Result<PathBuf, StoreError> {
    let seconds = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    let base = format!(".damaged-{seconds}");
    let mut target = with_suffix(path, &base);
    let mut n = 0;
    while target.exists() || COMPANIONS.iter().any(|c| with_suffix(&target, c).exists()) {
        n += 1;
        target = with_suffix(path, &format!("{base}-{n}"));
    }
    std::fs::rename(path, &target).map_err(|e| {
        StoreError::Backend(format!(
            "SQLite store {} is damaged ({why}) and cannot be moved aside to {}: {e}",
            path.display(),
            target.display()
        ))
    })?;
    for companion in COMPANIONS {
        let from = with_suffix(path, companion);
        let to = with_suffix(&target, companion);
        match std::fs::rename(&from, &to) {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            Err(e) => {
                // A stale log beside a fresh database would be replayed into it: remove it.
                tracing::warn!(
                    file = %from.display(),
                    "persistent store: cannot move {} aside ({e}); removing it",
                    from.display()
                );
                remove_if_exists(&from).map_err(|e| {
                    StoreError::Backend(format!(
                        "SQLite store {}: cannot remove {}: {e}",
                        path.display(),
                        from.display()
                    ))
                })?;
            }
        }
    }
    tracing::error!(
        file = %path.display(),
        moved_to = %target.display(),
        "persistent store: {} cannot be read ({why}); moved it aside to {} and starting with an \
         empty store",
        path.display(),
        target.display()
    );
    Ok(target)
}

/// Removes `path`; a file that is not there is fine.
pub(crate) fn remove_if_exists(path: &Path) -> io::Result<()> {
    match std::fs::remove_file(path) {
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
        other => other,
    }
}
