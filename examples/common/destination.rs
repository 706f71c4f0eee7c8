//! Checks of the files an example will write, made before it trains: a run of minutes
//! must not be lost to a destination that was never writable.

use std::fs::{self, OpenOptions};
use std::path::Path;

/// Checks that a file can be written at `path`, as `--save` (an atomic write through a
/// temporary file in the same directory) and `--plot` will write it: `path` is not a
/// directory, its directory exists, and a new file can be created there (tried with a
/// probe file, removed at once). `flag` names the option in the error.
pub fn check_writable(path: &Path, flag: &str) -> Result<(), String> {
    let shown = path.display();
    // A trailing separator names a directory even when none exists yet.
    let trailing = path
        .as_os_str()
        .to_string_lossy()
        .ends_with(std::path::is_separator);
    if path.is_dir() || trailing {
        return Err(format!("{flag} {shown}: is a directory; give a file name"));
    }
    let dir = match path.parent() {
        Some(dir) if !dir.as_os_str().is_empty() => dir,
        _ => Path::new("."),
    };
    if !dir.is_dir() {
        return Err(format!(
            "{flag} {shown}: the directory {} does not exist",
            dir.display()
        ));
    }
    let name = path
        .file_name()
        .map_or("file".into(), |n| n.to_string_lossy());
    let probe = dir.join(format!(".{name}.probe-{}", std::process::id()));
    OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(&probe)
        .map_err(|e| format!("{flag} {shown}: cannot write in {}: {e}", dir.display()))?;
    fs::remove_file(&probe).map_err(|e| {
        format!(
            "{flag} {shown}: cannot remove the probe file {}: {e}",
            probe.display()
        )
    })
}

/// Checks that `path` names a `.png` file that can be written (see [`check_writable`]).
#[allow(dead_code)] // not every example that includes this file plots
pub fn check_png_path(path: &Path) -> Result<(), String> {
    let is_png = path
        .extension()
        .is_some_and(|e| e.eq_ignore_ascii_case("png"));
    if !is_png {
        return Err(format!(
            "{}: --plot writes a PNG image, so the file name must end in .png",
            path.display()
        ));
    }
    check_writable(path, "--plot")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scratch(name: &str) -> std::path::PathBuf {
        let dir =
            std::env::temp_dir().join(format!("nn-destination-{name}-{}", std::process::id()));
        fs::create_dir_all(&dir).unwrap();
        dir
    }

    #[test]
    fn a_writable_destination_passes_and_leaves_nothing_behind() {
        let dir = scratch("ok");
        let target = dir.join("model.safetensors");
        check_writable(&target, "--save").unwrap();
        assert_eq!(
            fs::read_dir(&dir).unwrap().count(),
            0,
            "the probe is removed"
        );
        // An existing file is fine too: the atomic save replaces it.
        fs::write(&target, b"old").unwrap();
        check_writable(&target, "--save").unwrap();
        assert_eq!(
            fs::read(&target).unwrap(),
            b"old",
            "the check does not touch it"
        );
        fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn unwritable_destinations_are_refused_before_training() {
        let dir = scratch("bad");
        let err = check_writable(&dir, "--save").unwrap_err();
        assert!(err.contains("is a directory"), "{err}");
        let err = check_writable(&dir.join("new.png/"), "--plot").unwrap_err();
        assert!(err.contains("is a directory"), "{err}");
        let err = check_writable(&dir.join("missing/model.safetensors"), "--save").unwrap_err();
        assert!(err.contains("does not exist"), "{err}");
        // A file system that takes no new files, whatever the user's rights (root's too).
        let err = check_writable(Path::new("/proc/model.safetensors"), "--save").unwrap_err();
        assert!(err.contains("cannot write in /proc"), "{err}");
        let err = check_writable(Path::new("/proc/self"), "--plot").unwrap_err();
        assert!(
            err.starts_with("--plot /proc/self: is a directory"),
            "{err}"
        );
        fs::remove_dir_all(&dir).unwrap();
    }
}
