//! Output files that never destroy anything: [`check_outputs`] refuses, before any work, an output
//! path that names an input (compared as files: device and inode, so `./m.lstm`, symlinks and hard
//! links count), a directory, device or fifo, a path in a missing directory, or two outputs naming one
//! file; [`write_atomic`] is the crate's only way to write a file, and it only ever replaces a regular
//! file.

use std::fs::{self, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};

/// Why an output path or a file write was refused or failed.
#[derive(Debug, thiserror::Error)]
pub enum FileError {
    /// The output names the same file as an input.
    #[error(
        "{out_flag} {out} is the same file as {in_flag} {input}; refusing to overwrite an input"
    )]
    SameAsInput {
        /// Output flag.
        out_flag: String,
        /// Output path.
        out: PathBuf,
        /// Input flag.
        in_flag: String,
        /// Input path.
        input: PathBuf,
    },
    /// Two outputs name one file.
    #[error("{a_flag} {a} and {b_flag} {b} are the same file; give them different paths")]
    SameOutput {
        /// First flag.
        a_flag: String,
        /// First path.
        a: PathBuf,
        /// Second flag.
        b_flag: String,
        /// Second path.
        b: PathBuf,
    },
    /// The output exists and is not a regular file.
    #[error("{flag} {path} is a {kind}, not a regular file; refusing to replace it")]
    NotRegular {
        /// Flag.
        flag: String,
        /// Path.
        path: PathBuf,
        /// What it is.
        kind: &'static str,
    },
    /// The output's directory does not exist.
    #[error("{flag} {path}: directory {dir} does not exist")]
    NoDirectory {
        /// Flag.
        flag: String,
        /// Path.
        path: PathBuf,
        /// The missing directory.
        dir: PathBuf,
    },
    /// A file operation failed.
    #[error("{context} {path}")]
    Io {
        /// What was being done.
        context: &'static str,
        /// The file.
        path: PathBuf,
        /// Cause.
        source: std::io::Error,
    },
}

/// A path given on the command line, with the flag that named it (for messages).
#[derive(Debug, Clone, Copy)]
pub struct Named<'a> {
    /// The flag, e.g. `--out`.
    pub flag: &'a str,
    /// The path.
    pub path: &'a Path,
}

/// Shorthand for [`Named`].
pub fn named<'a>(flag: &'a str, path: &'a Path) -> Named<'a> {
    Named { flag, path }
}

/// The directory a path's file lives in (`.` for a bare file name).
fn parent_dir(path: &Path) -> PathBuf {
    match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
        _ => PathBuf::from("."),
    }
}

/// What a non-regular file is, for messages.
fn kind_of(m: &fs::Metadata) -> &'static str {
    #[cfg(unix)]
    {
        use std::os::unix::fs::FileTypeExt;
        let t = m.file_type();
        if t.is_char_device() || t.is_block_device() {
            return "device";
        }
        if t.is_fifo() {
            return "fifo";
        }
        if t.is_socket() {
            return "socket";
        }
    }
    if m.is_dir() {
        "directory"
    } else {
        "special file"
    }
}

/// The identity of an output that may not exist yet: its directory, canonicalised, joined with its
/// (symlink-resolved) file name.
fn output_key(path: &Path) -> Option<PathBuf> {
    if let Ok(p) = fs::canonicalize(path) {
        return Some(p);
    }
    let dir = fs::canonicalize(parent_dir(path)).ok()?;
    Some(dir.join(path.file_name()?))
}

/// Whether `a` and `b` name the same file (device and inode when both exist, else the canonical path).
fn same(a: &Path, b: &Path) -> bool {
    if let Ok(true) = same_file::is_same_file(a, b) {
        return true;
    }
    matches!((output_key(a), output_key(b)), (Some(x), Some(y)) if x == y)
}

/// Checks output paths before any work: each must be in an existing directory, be a regular file if
/// it exists, differ from every input and from every other output. `allowed` lists (input, output)
/// flag pairs that may name one file (`--resume` and `--checkpoint`: a run continues its own
/// checkpoint).
///
/// # Errors
/// The first refused path, as a [`FileError`].
pub fn check_outputs(
    inputs: &[Named<'_>],
    outputs: &[Named<'_>],
    allowed: &[(&str, &str)],
) -> Result<(), FileError> {
    for (i, o) in outputs.iter().enumerate() {
        let dir = parent_dir(o.path);
        if !dir.is_dir() {
            return Err(FileError::NoDirectory {
                flag: o.flag.into(),
                path: o.path.into(),
                dir,
            });
        }
        if o.path.file_name().is_none() {
            return Err(FileError::NotRegular {
                flag: o.flag.into(),
                path: o.path.into(),
                kind: "directory",
            });
        }
        // Follows symlinks: a link to a device is a device.
        if let Ok(m) = fs::metadata(o.path)
            && !m.is_file()
        {
            return Err(FileError::NotRegular {
                flag: o.flag.into(),
                path: o.path.into(),
                kind: kind_of(&m),
            });
        }
        for inp in inputs {
            if allowed.contains(&(inp.flag, o.flag)) {
                continue;
            }
            if same(inp.path, o.path) {
                return Err(FileError::SameAsInput {
                    out_flag: o.flag.into(),
                    out: o.path.into(),
                    in_flag: inp.flag.into(),
                    input: inp.path.into(),
                });
            }
        }
        for other in &outputs[..i] {
            if same(other.path, o.path) {
                return Err(FileError::SameOutput {
                    a_flag: other.flag.into(),
                    a: other.path.into(),
                    b_flag: o.flag.into(),
                    b: o.path.into(),
                });
            }
        }
    }
    Ok(())
}

/// The temporary file [`write_atomic`] writes before renaming it over `target`: a fixed name beside
/// it, so a run killed mid-write leaves one file that the next write to the same path replaces.
pub fn temp_path(target: &Path) -> PathBuf {
    let name = target
        .file_name()
        .map_or_else(|| "out".into(), |n| n.to_string_lossy().into_owned());
    parent_dir(target).join(format!(".{name}.host-trainer-tmp"))
}

/// Writes `bytes` to `path` atomically: a temporary file beside it ([`temp_path`]), fsync, rename,
/// fsync of the directory. A symlink is followed (its target is replaced, the link kept). Only a
/// regular file (or nothing) is ever replaced.
///
/// # Errors
/// A destination that is not a regular file, or any I/O failure; the destination is then untouched.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<(), FileError> {
    let io = |context, source| FileError::Io {
        context,
        path: path.to_path_buf(),
        source,
    };
    let target = match fs::symlink_metadata(path) {
        Ok(m) if m.file_type().is_symlink() => {
            fs::canonicalize(path).map_err(|e| io("resolving the symlink", e))?
        }
        _ => path.to_path_buf(),
    };
    let existing = fs::metadata(&target).ok();
    if let Some(m) = &existing
        && !m.is_file()
    {
        return Err(FileError::NotRegular {
            flag: "output".into(),
            path: path.to_path_buf(),
            kind: kind_of(m),
        });
    }
    let tmp = temp_path(&target);
    // A leftover from a killed run is simply replaced.
    match fs::remove_file(&tmp) {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(io("removing a stale temporary file for", e)),
    }
    let result = (|| {
        let mut f = OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&tmp)
            .map_err(|e| io("creating a temporary file for", e))?;
        f.write_all(bytes).map_err(|e| io("writing", e))?;
        // The result gets the destination's mode, or the usual 0644 for a new file.
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = existing
                .as_ref()
                .map_or(0o644, |m| m.permissions().mode() & 0o7777);
            f.set_permissions(fs::Permissions::from_mode(mode))
                .map_err(|e| io("setting permissions of", e))?;
        }
        f.sync_all().map_err(|e| io("syncing", e))?;
        fs::rename(&tmp, &target).map_err(|e| io("renaming into", e))
    })();
    if result.is_err() {
        let _ = fs::remove_file(&tmp);
    }
    result?;
    // Make the rename durable; not every platform can sync a directory, so this is best effort.
    if let Ok(d) = fs::File::open(parent_dir(&target)) {
        let _ = d.sync_all();
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refuses_aliases_of_inputs_and_outputs() {
        let dir = tempfile::tempdir().expect("tempdir");
        let d = dir.path();
        let input = d.join("corpus.txt");
        fs::write(&input, "abc").expect("write");
        let dotted = d.join(".").join("corpus.txt");
        let ok = d.join("m.lstm");
        let out = |p: &Path| check_outputs(&[named("--corpus", &input)], &[named("--out", p)], &[]);
        assert!(out(&ok).is_ok());
        assert!(matches!(out(&input), Err(FileError::SameAsInput { .. })));
        assert!(matches!(out(&dotted), Err(FileError::SameAsInput { .. })));
        #[cfg(unix)]
        {
            let link = d.join("link.txt");
            std::os::unix::fs::symlink(&input, &link).expect("symlink");
            assert!(matches!(out(&link), Err(FileError::SameAsInput { .. })));
            let hard = d.join("hard.txt");
            fs::hard_link(&input, &hard).expect("hard link");
            assert!(matches!(out(&hard), Err(FileError::SameAsInput { .. })));
            assert!(matches!(
                out(Path::new("/dev/null")),
                Err(FileError::NotRegular { kind: "device", .. })
            ));
        }
        assert!(matches!(out(d), Err(FileError::NotRegular { .. })));
        assert!(matches!(
            out(&d.join("missing/m.lstm")),
            Err(FileError::NoDirectory { .. })
        ));
        // Two outputs that do not exist yet, spelled differently.
        let r = check_outputs(
            &[],
            &[
                named("--out", &ok),
                named("--log", &d.join(".").join("m.lstm")),
            ],
            &[],
        );
        assert!(matches!(r, Err(FileError::SameOutput { .. })));
        let r = check_outputs(
            &[named("--resume", &input)],
            &[named("--checkpoint", &input)],
            &[("--resume", "--checkpoint")],
        );
        assert!(r.is_ok());
    }

    #[test]
    fn write_atomic_replaces_files_only_and_reuses_its_temp_name() {
        let dir = tempfile::tempdir().expect("tempdir");
        let p = dir.path().join("out.bin");
        fs::write(temp_path(&p), "stale leftover of a killed run").expect("write");
        write_atomic(&p, b"one").expect("writes");
        assert_eq!(fs::read(&p).expect("read"), b"one");
        assert!(!temp_path(&p).exists(), "the leftover is gone");
        write_atomic(&p, b"two").expect("writes");
        assert_eq!(fs::read(&p).expect("read"), b"two");
        assert!(matches!(
            write_atomic(dir.path(), b"x"),
            Err(FileError::NotRegular { .. })
        ));
        #[cfg(unix)]
        {
            let link = dir.path().join("link.bin");
            std::os::unix::fs::symlink(&p, &link).expect("symlink");
            write_atomic(&link, b"three").expect("writes through the link");
            assert!(fs::symlink_metadata(&link).expect("meta").is_symlink());
            assert_eq!(fs::read(&p).expect("read"), b"three");
            assert!(matches!(
                write_atomic(Path::new("/dev/null"), b"x"),
                Err(FileError::NotRegular { .. })
            ));
        }
        let names: Vec<_> = fs::read_dir(dir.path())
            .expect("list")
            .map(|e| e.expect("entry").file_name())
            .collect();
        assert_eq!(names.len(), 2, "no temporary files left: {names:?}");
    }
}
