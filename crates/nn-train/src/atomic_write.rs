//! Replacing a file atomically: a crash or an error leaves the previous file or the new
//! one, never a mix. Used to save model files; nothing in it is about their format.

use std::ffi::OsString;
use std::fs::{self, File, OpenOptions};
use std::io;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use nn_core::{Error, Result};

/// Distinguishes the temporary files of one process.
static TEMP_COUNTER: AtomicU64 = AtomicU64::new(0);

/// Writes `bytes` to `path` atomically: `write` fills a new temporary file in the same
/// directory, which is synced and renamed over `path`; then the directory is synced, on a
/// best-effort basis. On any error the temporary file is removed and `path` is untouched.
///
/// `write` is a parameter so that tests can make it fail midway.
pub(crate) fn write_atomically(
    path: &Path,
    bytes: &[u8],
    write: impl FnOnce(&mut File, &[u8]) -> io::Result<()>,
) -> Result<()> {
    let io_error = |source| Error::Io {
        path: path.to_path_buf(),
        source,
    };
    let Some(name) = path.file_name() else {
        return Err(io_error(io::Error::new(
            io::ErrorKind::InvalidInput,
            "the path does not name a file",
        )));
    };
    let dir = match path.parent() {
        Some(dir) if !dir.as_os_str().is_empty() => dir,
        _ => Path::new("."),
    };

    // `create_new` never reuses an existing file: a name left over by a crashed process
    // is skipped.
    let mut attempt = 0;
    let (temp, mut file) = loop {
        let mut temp_name = OsString::from(".");
        temp_name.push(name);
        temp_name.push(format!(
            ".tmp-{}-{}",
            std::process::id(),
            TEMP_COUNTER.fetch_add(1, Ordering::Relaxed)
        ));
        let temp: PathBuf = dir.join(temp_name);
        match OpenOptions::new().write(true).create_new(true).open(&temp) {
            Ok(file) => break (temp, file),
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists && attempt < 100 => attempt += 1,
            Err(e) => return Err(io_error(e)),
        }
    };

    let result = write(&mut file, bytes)
        .and_then(|()| file.sync_all())
        .and_then(|()| {
            drop(file);
            fs::rename(&temp, path)
        });
    if let Err(e) = result {
        let _ = fs::remove_file(&temp);
        return Err(io_error(e));
    }
    // Make the rename itself durable. Not every platform can open or sync a directory,
    // and the file is complete either way, so a failure here is ignored.
    if let Ok(dir) = File::open(dir) {
        let _ = dir.sync_all();
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    fn entries(dir: &Path) -> Vec<PathBuf> {
        let mut entries: Vec<_> = fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().path())
            .collect();
        entries.sort();
        entries
    }

    /// Creates the temporary files `write_atomically` would try next for `name` in `dir`,
    /// `count` of them from the counter's current value; returns that value.
    fn occupy_temporary_names(dir: &Path, name: &str, count: u64) -> u64 {
        let next = TEMP_COUNTER.load(Ordering::Relaxed);
        for k in next..next + count {
            let temp = format!(".{name}.tmp-{}-{k}", std::process::id());
            fs::write(dir.join(temp), b"stale").unwrap();
        }
        next
    }

    fn write_all(path: &Path, bytes: &[u8]) -> Result<()> {
        write_atomically(path, bytes, |file, bytes| file.write_all(bytes))
    }

    #[test]
    fn an_error_midway_leaves_the_previous_file_and_no_temporary_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("model.safetensors");
        write_all(&path, b"the previous file").unwrap();

        let new = b"a new file, longer than the previous one";
        let result = write_atomically(&path, new, |file, bytes| {
            file.write_all(&bytes[..bytes.len() / 2])?;
            Err(io::Error::other("injected failure"))
        });
        match result {
            Err(Error::Io { path: p, source }) => {
                assert_eq!(p, path);
                assert_eq!(source.to_string(), "injected failure");
            }
            other => panic!("expected an I/O error, got {other:?}"),
        }
        assert_eq!(fs::read(&path).unwrap(), b"the previous file");
        assert_eq!(entries(dir.path()), vec![path.clone()]);

        // The same path then saves normally, replacing the file.
        write_all(&path, new).unwrap();
        assert_eq!(fs::read(&path).unwrap(), new);
        assert_eq!(entries(dir.path()), vec![path]);
    }

    #[test]
    fn a_failed_rename_removes_the_temporary_file() {
        // A non-empty directory at the target cannot be replaced by a file.
        let dir = tempfile::tempdir().unwrap();
        let target = dir.path().join("model.safetensors");
        fs::create_dir(&target).unwrap();
        fs::write(target.join("keep"), b"x").unwrap();
        assert!(matches!(
            write_all(&target, b"bytes"),
            Err(Error::Io { .. })
        ));
        assert_eq!(entries(dir.path()), vec![target.clone()]);
        assert_eq!(fs::read(target.join("keep")).unwrap(), b"x");
    }

    #[test]
    fn a_path_that_names_no_file_is_an_error() {
        let dir = tempfile::tempdir().unwrap();
        match write_all(&dir.path().join(".."), b"bytes") {
            Err(Error::Io { source, .. }) => {
                assert_eq!(source.kind(), io::ErrorKind::InvalidInput)
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn a_leftover_temporary_name_is_skipped() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("m.safetensors");
        // Occupy the next few names (other tests may take some of them concurrently).
        occupy_temporary_names(dir.path(), "m.safetensors", 4);
        write_all(&path, b"bytes").unwrap();
        assert_eq!(fs::read(&path).unwrap(), b"bytes");
        assert_eq!(entries(dir.path()).len(), 5);
    }

    #[test]
    fn the_temporary_file_is_written_in_the_target_directory() {
        // So that the rename stays on one file system and never copies.
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("model.safetensors");
        write_atomically(&path, b"bytes", |file, bytes| {
            let names: Vec<_> = entries(dir.path())
                .iter()
                .map(|p| p.file_name().unwrap().to_owned())
                .collect();
            assert_eq!(names.len(), 1, "{names:?}");
            assert!(names[0]
                .to_string_lossy()
                .starts_with(".model.safetensors.tmp-"));
            file.write_all(bytes)
        })
        .unwrap();
        assert_eq!(fs::read(&path).unwrap(), b"bytes");
    }

    #[test]
    fn temporary_names_taken_every_time_are_an_error_after_a_hundred_attempts() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("n.safetensors");
        // Far more names than the attempts, and than other tests can take meanwhile.
        let next = occupy_temporary_names(dir.path(), "n.safetensors", 1000);
        match write_all(&path, b"bytes") {
            Err(Error::Io { source, .. }) => {
                assert_eq!(source.kind(), io::ErrorKind::AlreadyExists)
            }
            other => panic!("{other:?}"),
        }
        assert!(!path.exists());
        let used = TEMP_COUNTER.load(Ordering::Relaxed) - next;
        assert!((101..1000).contains(&used), "{used} names tried");
    }
}
