//! `amqtt_passwd`: manages the password file of the `auth_file` plugin
//! (`amqtt.plugins.authentication.FileAuthPlugin`).
//!
//! ```text
//! amqtt_passwd FILE USER       add USER, or change their password (creates FILE if missing)
//! amqtt_passwd -c FILE USER    start a new FILE holding only USER (replaces an existing FILE)
//! amqtt_passwd -D FILE USER    delete USER
//! amqtt_passwd --scram FILE USER   add or change USER as a SCRAM-SHA-256 verifier
//! ```
//!
//! The password is asked twice on the terminal, without echo; when standard input is not a
//! terminal, its first line is the password (`echo secret | amqtt_passwd FILE USER`). It is
//! never taken from the command line, where other users could see it. Entries are argon2id hashes
//! with the argon2 crate's default parameters and a random salt; with `--scram`, SCRAM-SHA-256
//! verifiers (4096 iterations, random salt), which the `auth_scram` plugin needs for MQTT 5.0
//! enhanced authentication and `auth_file` accepts for plain logins too. Comments and the other users'
//! lines are kept as they are; the file is replaced atomically and left readable by its owner
//! only (mode 0600 on unix). A running broker picks the change up on SIGHUP.

use std::fs::{self, OpenOptions};
use std::io::{self, BufRead, IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use amqtt_plugins::scram::ScramCredential;
use argon2::{Argon2, PasswordHasher};
use clap::Parser;

/// Command-line options.
#[derive(Debug, Parser)]
#[command(
    name = "amqtt_passwd",
    version,
    about = "Manage the password file of amqtt's auth_file plugin",
    after_help = "The password is read from the terminal (asked twice), or as one line from \
                  standard input when it is not a terminal."
)]
struct Args {
    /// Create a new password file holding only USER, replacing FILE if it exists.
    #[arg(short = 'c', conflicts_with = "delete")]
    create: bool,
    /// Delete USER from FILE.
    #[arg(short = 'D')]
    delete: bool,
    /// Store a SCRAM-SHA-256 verifier (for the auth_scram plugin) instead of an argon2id hash.
    #[arg(long, conflicts_with = "delete")]
    scram: bool,
    /// The password file.
    file: PathBuf,
    /// The user name.
    user: String,
}

fn main() -> ExitCode {
    let args = Args::parse();
    match run(&args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("amqtt_passwd: {message}");
            ExitCode::FAILURE
        }
    }
}

/// Carries out the command; the error is the message for the user.
fn run(args: &Args) -> Result<(), String> {
    check_user_name(&args.user)?;
    let file = args.file.display();
    // Write through a symbolic link rather than replacing it.
    let path = fs::canonicalize(&args.file).unwrap_or_else(|_| args.file.clone());
    let existing = if args.create {
        String::new()
    } else {
        match fs::read_to_string(&path) {
            Ok(text) => text,
            Err(e) if e.kind() == io::ErrorKind::NotFound && !args.delete => String::new(),
            Err(e) => return Err(format!("cannot read {file}: {e}")),
        }
    };
    warn_about_bad_lines(&existing, &args.file);

    let contents = if args.delete {
        let (kept, removed) = remove_user(&existing, &args.user);
        if removed == 0 {
            return Err(format!("user `{}` not found in {file}", args.user));
        }
        eprintln!("Deleting password for user {}", args.user);
        kept
    } else {
        let password = read_password()?;
        let hash = if args.scram {
            ScramCredential::generate(password.as_bytes()).to_string()
        } else {
            Argon2::default()
                .hash_password(password.as_bytes())
                .map_err(|e| format!("cannot hash the password: {e}"))?
                .to_string()
        };
        let line = format!("{}:{hash}", args.user);
        let (updated, replaced) = set_user(&existing, &args.user, &line);
        if replaced {
            eprintln!("Updating password for user {}", args.user);
        } else {
            eprintln!("Adding password for user {}", args.user);
        }
        updated
    };
    write_atomically(&path, &contents).map_err(|e| format!("cannot write {file}: {e}"))
}

/// Refuses user names the password file cannot hold, or that would read back differently.
fn check_user_name(user: &str) -> Result<(), String> {
    if user.is_empty() {
        return Err("the user name is empty".to_owned());
    }
    if user.contains(':') {
        return Err(format!("the user name `{user}` contains `:`"));
    }
    if user.starts_with('#') {
        return Err(format!(
            "the user name `{user}` starts with `#`, which marks a comment"
        ));
    }
    if user.chars().any(char::is_control) || user.trim() != user {
        return Err(format!(
            "the user name `{user}` has control characters or surrounding spaces"
        ));
    }
    Ok(())
}

/// The user name of a `username:hash` line, as the broker reads it; `None` for a comment, a
/// blank line or a malformed one.
fn entry_user(line: &str) -> Option<&str> {
    let line = line.trim();
    if line.is_empty() || line.starts_with('#') {
        return None;
    }
    line.split_once(':').map(|(user, _)| user)
}

/// Warns about lines the broker would refuse (it would not start with this file).
fn warn_about_bad_lines(text: &str, file: &Path) {
    for (index, line) in text.lines().enumerate() {
        let trimmed = line.trim();
        if !trimmed.is_empty() && !trimmed.starts_with('#') && entry_user(line).is_none() {
            eprintln!(
                "amqtt_passwd: warning: {}, line {}: not `username:hash` (kept as is)",
                file.display(),
                index + 1
            );
        }
    }
}

/// `text` without the lines of `user`, and how many there were.
fn remove_user(text: &str, user: &str) -> (String, usize) {
    let mut kept = String::with_capacity(text.len());
    let mut removed = 0;
    for line in text.split_inclusive('\n') {
        if entry_user(line) == Some(user) {
            removed += 1;
        } else {
            kept.push_str(line);
        }
    }
    (kept, removed)
}

/// `text` with the first line of `user` replaced by `entry` (later ones dropped), or `entry`
/// appended; and whether a line was replaced.
fn set_user(text: &str, user: &str, entry: &str) -> (String, bool) {
    let mut out = String::with_capacity(text.len() + entry.len() + 1);
    let mut replaced = false;
    for line in text.split_inclusive('\n') {
        if entry_user(line) == Some(user) {
            if !replaced {
                out.push_str(entry);
                out.push('\n');
                replaced = true;
            }
        } else {
            out.push_str(line);
        }
    }
    if !replaced {
        if !out.is_empty() && !out.ends_with('\n') {
            out.push('\n');
        }
        out.push_str(entry);
        out.push('\n');
    }
    (out, replaced)
}

/// The new password: asked twice on the terminal, or the first line of standard input.
fn read_password() -> Result<String, String> {
    let password = if io::stdin().is_terminal() {
        let first = rpassword::prompt_password("Password: ")
            .map_err(|e| format!("cannot read the password: {e}"))?;
        let second = rpassword::prompt_password("Reenter password: ")
            .map_err(|e| format!("cannot read the password: {e}"))?;
        if first != second {
            return Err("the passwords do not match".to_owned());
        }
        first
    } else {
        let mut line = String::new();
        let read = io::stdin()
            .lock()
            .read_line(&mut line)
            .map_err(|e| format!("cannot read the password from standard input: {e}"))?;
        if read == 0 {
            return Err("no password on standard input".to_owned());
        }
        let end = line.trim_end_matches(['\n', '\r']).len();
        line.truncate(end);
        line
    };
    if password.is_empty() {
        return Err("the password is empty".to_owned());
    }
    Ok(password)
}

/// Replaces `path` with `contents`: written to a temporary file beside it (mode 0600 on unix),
/// flushed to disk, then renamed over it.
fn write_atomically(path: &Path, contents: &str) -> io::Result<()> {
    let dir = match path.parent() {
        Some(dir) if !dir.as_os_str().is_empty() => dir,
        _ => Path::new("."),
    };
    let name = path
        .file_name()
        .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "not a file name"))?;
    let temp = dir.join(format!(
        ".{}.{}.tmp",
        name.to_string_lossy(),
        std::process::id()
    ));
    let mut options = OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let written = options.open(&temp).and_then(|mut file| {
        file.write_all(contents.as_bytes())?;
        file.sync_all()?;
        drop(file);
        fs::rename(&temp, path)
    });
    if written.is_err() {
        let _ = fs::remove_file(&temp);
    }
    written?;
    #[cfg(unix)]
    if let Ok(dir) = fs::File::open(dir) {
        let _ = dir.sync_all(); // best effort: makes the rename durable
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    const TEXT: &str = "# users\nalice:$6$a$b\n\n bob:$2b$x\nmalformed\nalice:old\n";

    #[test]
    fn set_replaces_the_first_line_and_drops_the_others() {
        let (out, replaced) = set_user(TEXT, "alice", "alice:new");
        assert!(replaced);
        assert_eq!(out, "# users\nalice:new\n\n bob:$2b$x\nmalformed\n");
    }

    #[test]
    fn set_appends_a_new_user_after_a_final_newline() {
        let (out, replaced) = set_user("# c\nbob:x", "carol", "carol:h");
        assert!(!replaced);
        assert_eq!(out, "# c\nbob:x\ncarol:h\n");
        assert_eq!(set_user("", "carol", "carol:h").0, "carol:h\n");
    }

    #[test]
    fn remove_keeps_comments_and_other_users() {
        let (out, removed) = remove_user(TEXT, "alice");
        assert_eq!(removed, 2);
        assert_eq!(out, "# users\n\n bob:$2b$x\nmalformed\n");
        assert_eq!(remove_user(TEXT, "nobody").1, 0);
        assert_eq!(remove_user(TEXT, "bob").1, 1);
    }

    #[test]
    fn user_names_the_file_cannot_hold_are_refused() {
        for bad in ["", "a:b", "#x", " x", "x\n", "x\ty"] {
            assert!(check_user_name(bad).is_err(), "{bad:?}");
        }
        assert!(check_user_name("ünïcode user").is_ok());
    }
}
