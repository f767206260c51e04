//! `auralis-server user create | passwd | delete | list`: named users with passwords,
//! the accounts Subsonic apps log in with (`library::accounts`).

use auralis_server::library::Library;
use auralis_server::library::tokens::Role;
use std::io::{BufRead, IsTerminal, Write};

#[derive(clap::Subcommand)]
pub(crate) enum UserAction {
    /// Create a user; the password is asked for (twice, not echoed) on a terminal, or
    /// read as the first line of standard input.
    Create {
        /// A unique name (also its login).
        #[arg(long)]
        name: String,
        /// `admin` or `listener`.
        #[arg(long, default_value = "listener")]
        role: String,
        #[command(flatten)]
        args: crate::StoreArgs,
    },
    /// Set a user's password (asked for, or read from standard input).
    Passwd {
        name: String,
        #[command(flatten)]
        args: crate::StoreArgs,
    },
    /// Delete a user: its password is erased, it and its API keys stop working.
    Delete {
        name: String,
        #[command(flatten)]
        args: crate::StoreArgs,
    },
    /// List users (never their passwords).
    List {
        #[command(flatten)]
        args: crate::StoreArgs,
    },
}

impl UserAction {
    pub(crate) fn args(&self) -> &crate::StoreArgs {
        match self {
            UserAction::Create { args, .. }
            | UserAction::Passwd { args, .. }
            | UserAction::Delete { args, .. }
            | UserAction::List { args } => args,
        }
    }
}

/// Why a password could not be read.
#[derive(Debug, thiserror::Error)]
pub(crate) enum PasswordError {
    #[error("cannot read the password: {0}")]
    Io(#[from] std::io::Error),
    #[error("no password given (standard input was empty)")]
    Empty,
    #[error("the two passwords differ")]
    Mismatch,
}

/// Runs one `user` action against the library.
pub(crate) fn run(lib: &Library, action: UserAction) -> Result<String, crate::CliError> {
    match action {
        UserAction::Create { name, role, .. } => {
            let role = Role::parse(&role).ok_or(crate::CliError::Role(role))?;
            let password = read_password()?;
            let p = lib.create_user(&name, role, &password)?;
            Ok(format!(
                "user {} ({}, id {}) created",
                p.name,
                p.role.as_str(),
                p.id
            ))
        }
        UserAction::Passwd { name, .. } => {
            let password = read_password()?;
            lib.set_password(&name, &password)?;
            Ok(format!("password of {name} changed"))
        }
        UserAction::Delete { name, .. } => {
            lib.delete_user(&name)?;
            Ok(format!("user {name} deleted"))
        }
        UserAction::List { .. } => Ok(serde_json::to_string_pretty(&lib.users()?)?),
    }
}

/// The password: asked twice without echo on a terminal; otherwise the first line of
/// standard input (so scripts can pipe it in, never put it on the command line where
/// `ps` shows it).
fn read_password() -> Result<String, PasswordError> {
    let stdin = std::io::stdin();
    if !stdin.is_terminal() {
        let mut line = String::new();
        stdin.lock().read_line(&mut line)?;
        let password = line.trim_end_matches(['\r', '\n']).to_string();
        return if password.is_empty() {
            Err(PasswordError::Empty)
        } else {
            Ok(password)
        };
    }
    let first = prompt("Password: ")?;
    let second = prompt("Again: ")?;
    if first != second {
        return Err(PasswordError::Mismatch);
    }
    if first.is_empty() {
        return Err(PasswordError::Empty);
    }
    Ok(first)
}

/// Reads a line from the terminal with echo off, restored afterwards.
fn prompt(label: &str) -> Result<String, PasswordError> {
    eprint!("{label}");
    std::io::stderr().flush()?;
    let fd = libc::STDIN_FILENO;
    // SAFETY: termios is plain data; tcgetattr fills it for a terminal fd.
    let mut saved: libc::termios = unsafe { std::mem::zeroed() };
    let is_tty = unsafe { libc::tcgetattr(fd, &mut saved) } == 0;
    if is_tty {
        let mut quiet = saved;
        quiet.c_lflag &= !libc::ECHO;
        // SAFETY: sets the attributes just read, with echo cleared.
        unsafe { libc::tcsetattr(fd, libc::TCSANOW, &quiet) };
    }
    let mut line = String::new();
    let read = std::io::stdin().lock().read_line(&mut line);
    if is_tty {
        // SAFETY: restores what tcgetattr returned.
        unsafe { libc::tcsetattr(fd, libc::TCSANOW, &saved) };
    }
    eprintln!();
    read?;
    Ok(line.trim_end_matches(['\r', '\n']).to_string())
}
