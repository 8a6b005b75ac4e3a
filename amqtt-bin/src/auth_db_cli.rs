//! `amqtt_user_mgr` and `amqtt_topic_mgr`: aMQTT's `user_mgr` and `topic_mgr` tools for the
//! tables of the `auth_db` plugins, with aMQTT's sub-commands and flags.
//!
//! ```text
//! amqtt_user_mgr  -d sqlite -f auth.db sync | list | add -c ID | rm -c ID [-y] | pwd -c ID
//! amqtt_topic_mgr -d sqlite -f auth.db sync | list | add TOPIC -c ID -a ACTION | rm -c ID -a ACTION TOPIC
//! amqtt_user_mgr  -d postgresql -u USER [-h HOST] [-p PORT] [-n DBNAME] list
//! ```
//!
//! Passwords (the database's, then the client's) are read from the terminal without echo, or
//! one per line from standard input when it is not a terminal; never from the command line.

use std::io::{self, BufRead, IsTerminal, Write};
use std::path::PathBuf;
use std::process::ExitCode;

use amqtt_contrib::auth_db::admin::{AdminError, AuthAdmin, action_name};
use amqtt_contrib::db::DbUrl;
use amqtt_core::plugin::Action;
use clap::{Args, Parser, Subcommand, ValueEnum};

/// The database options that come before the sub-command (aMQTT's).
#[derive(Debug, Args)]
struct DbOptions {
    /// db type
    #[arg(short = 'd', long = "db", value_enum)]
    db: DbType,
    /// db username (PostgreSQL, MariaDB, MySQL)
    #[arg(short = 'u', long = "username", default_value = "")]
    username: String,
    /// database port (defaults to db type)
    #[arg(short = 'p', long = "port", default_value_t = 0)]
    port: u16,
    /// database host
    #[arg(short = 'h', long = "host", default_value = "localhost")]
    host: String,
    /// database file name (sqlite only)
    #[arg(short = 'f', long = "file", default_value = "auth.db")]
    file: PathBuf,
    /// database name (PostgreSQL, MariaDB, MySQL; aMQTT's tools have none: PostgreSQL then
    /// takes the user's database)
    #[arg(short = 'n', long = "db-name")]
    db_name: Option<String>,
    /// Print help
    #[arg(long = "help", action = clap::ArgAction::Help)]
    help: Option<bool>,
}

/// aMQTT's `DBType`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum DbType {
    Mariadb,
    Mysql,
    Postgresql,
    Sqlite,
}

/// `amqtt_user_mgr`'s command line.
#[derive(Debug, Parser)]
#[command(
    name = "amqtt_user_mgr",
    version,
    disable_help_flag = true,
    about = "List, create, remove clients and change their passwords in the user_auth table of \
             the auth_db plugins (aMQTT's user_mgr)",
    after_help = "Passwords are read from the terminal, or one per line from standard input when \
                  it is not a terminal (the database's first, if it needs one)."
)]
struct UserCli {
    #[command(flatten)]
    db: DbOptions,
    #[command(subcommand)]
    command: UserCommand,
}

#[derive(Debug, Subcommand)]
enum UserCommand {
    /// Create the tables (user_auth, topic_auth) when missing; existing ones are left alone.
    Sync,
    /// List all client ids (in alphabetical order) with their password hashes.
    List,
    /// Create a new client with a client id and password (prompted).
    Add {
        /// id for the new client
        #[arg(short = 'c', long = "client-id")]
        client_id: String,
    },
    /// Remove a client (asks for confirmation).
    Rm {
        /// id for the client to remove
        #[arg(short = 'c', long = "client-id")]
        client_id: String,
        /// Do not ask for confirmation.
        #[arg(short = 'y', long = "yes")]
        yes: bool,
    },
    /// Update a client's password (prompted).
    Pwd {
        /// id of the client
        #[arg(short = 'c', long = "client-id")]
        client_id: String,
    },
}

/// `amqtt_topic_mgr`'s command line.
#[derive(Debug, Parser)]
#[command(
    name = "amqtt_topic_mgr",
    version,
    disable_help_flag = true,
    about = "Add / remove the topics each client may publish, subscribe or receive, in the \
             topic_auth table of the auth_db plugins (aMQTT's topic_mgr)",
    after_help = "The database password, if needed, is read from the terminal, or as one line \
                  from standard input when it is not a terminal."
)]
struct TopicCli {
    #[command(flatten)]
    db: DbOptions,
    #[command(subcommand)]
    command: TopicCommand,
}

/// aMQTT's `Action` values.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum ActionArg {
    Subscribe,
    Publish,
    Receive,
}

impl ActionArg {
    fn action(self) -> Action {
        match self {
            ActionArg::Subscribe => Action::Subscribe,
            ActionArg::Publish => Action::Publish,
            ActionArg::Receive => Action::Receive,
        }
    }
}

#[derive(Debug, Subcommand)]
enum TopicCommand {
    /// Create the tables (user_auth, topic_auth) when missing; existing ones are left alone.
    Sync,
    /// List every client's publish, subscribe and receive topics.
    List,
    /// Allow a topic (filter) for a client and action.
    Add {
        /// topic (filter) to allow
        topic: String,
        /// id for the client
        #[arg(short = 'c', long = "client-id")]
        client_id: String,
        /// action for topic to allow
        #[arg(short = 'a', long = "action", value_enum)]
        action: ActionArg,
    },
    /// Remove a topic from a client's list for an action.
    Rm {
        /// id for the client
        #[arg(short = 'c', long = "client-id")]
        client_id: String,
        /// action for topic to remove
        #[arg(short = 'a', long = "action", value_enum)]
        action: ActionArg,
        /// topic (filter) to remove
        topic: String,
    },
}

/// Reads passwords and answers from the terminal, or lines from standard input.
struct Prompter {
    terminal: bool,
}

impl Prompter {
    fn new() -> Prompter {
        Prompter {
            terminal: io::stdin().is_terminal(),
        }
    }

    /// One line of standard input, without its line end; an error at end of input.
    fn line(&self, what: &str) -> Result<String, String> {
        let mut line = String::new();
        let read = io::stdin()
            .lock()
            .read_line(&mut line)
            .map_err(|e| format!("cannot read {what}: {e}"))?;
        if read == 0 {
            return Err(format!("cannot read {what}: nothing on standard input"));
        }
        Ok(line.trim_end_matches(['\n', '\r']).to_owned())
    }

    /// A secret, without echo on a terminal.
    fn secret(&self, prompt: &str, what: &str) -> Result<String, String> {
        if self.terminal {
            rpassword::prompt_password(prompt).map_err(|e| format!("cannot read {what}: {e}"))
        } else {
            self.line(what)
        }
    }

    /// A new client password: asked twice on a terminal; surrounding spaces removed (as aMQTT).
    fn client_password(&self, prompt: &str) -> Result<String, String> {
        let password = self.secret(prompt, "the client's password")?;
        if self.terminal {
            let again = self.secret("Repeat the password: ", "the client's password")?;
            if again != password {
                return Err("Error: the passwords differ.".to_owned());
            }
        }
        let password = password.trim();
        if password.is_empty() {
            return Err("Error: client password cannot be empty.".to_owned());
        }
        Ok(password.to_owned())
    }

    /// A yes/no answer (yes only for `y` or `yes`).
    fn confirm(&self, prompt: &str) -> Result<bool, String> {
        eprint!("{prompt} [y/N]: ");
        let _ = io::stderr().flush();
        let answer = self.line("an answer")?;
        Ok(matches!(
            answer.trim().to_ascii_lowercase().as_str(),
            "y" | "yes"
        ))
    }
}

/// Percent-encodes a URL user name or password.
fn url_escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for byte in text.bytes() {
        if byte.is_ascii_alphanumeric() || b"-._~".contains(&byte) {
            out.push(char::from(byte));
        } else {
            out.push_str(&format!("%{byte:02X}"));
        }
    }
    out
}

impl DbOptions {
    /// Checks the options as aMQTT does (a SQLite file must exist unless syncing; a server
    /// needs a user name) and builds the database URL, asking for the server's password.
    fn url(&self, syncing: bool, prompter: &Prompter) -> Result<DbUrl, String> {
        let (scheme, default_port) = match self.db {
            DbType::Sqlite => {
                if !syncing && !self.file.exists() {
                    return Err(format!(
                        "SQLite option could not find '{}'",
                        self.file.display()
                    ));
                }
                return DbUrl::parse(&format!("sqlite+aiosqlite:///{}", self.file.display()));
            }
            DbType::Mariadb | DbType::Mysql => ("mysql+aiomysql", 3306),
            DbType::Postgresql => ("postgresql+asyncpg", 5432),
        };
        if self.username.is_empty() {
            return Err("DB access requires a username be provided.".to_owned());
        }
        let password = prompter.secret(
            "Enter the db password (press enter for none): ",
            "the db password",
        )?;
        let credentials = if password.is_empty() {
            url_escape(&self.username)
        } else {
            format!("{}:{}", url_escape(&self.username), url_escape(&password))
        };
        let port = if self.port == 0 {
            default_port
        } else {
            self.port
        };
        let database = self.db_name.as_deref().map(url_escape).unwrap_or_default();
        DbUrl::parse(&format!(
            "{scheme}://{credentials}@{}:{port}/{database}",
            self.host
        ))
    }
}

/// Runs `work` on a runtime of its own; an error is printed and exits with 1.
fn run<F>(tool: &str, work: F) -> ExitCode
where
    F: Future<Output = Result<(), String>>,
{
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(e) => {
            eprintln!("{tool}: cannot start: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(work) {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("{tool}: {message}");
            ExitCode::FAILURE
        }
    }
}

/// Opens the database of the options.
async fn open(db: &DbOptions, syncing: bool, prompter: &Prompter) -> Result<AuthAdmin, String> {
    let url = db.url(syncing, prompter)?;
    AuthAdmin::open(&url).await.map_err(|e| e.0)
}

/// `amqtt_user_mgr`'s `main`.
pub fn user_mgr_main() -> ExitCode {
    let cli = UserCli::parse();
    run("amqtt_user_mgr", user_mgr(cli))
}

async fn user_mgr(cli: UserCli) -> Result<(), String> {
    let prompter = Prompter::new();
    let syncing = matches!(cli.command, UserCommand::Sync);
    let admin = open(&cli.db, syncing, &prompter).await?;
    let result = user_command(&admin, &cli.command, &prompter).await;
    admin.close().await;
    result
}

async fn user_command(
    admin: &AuthAdmin,
    command: &UserCommand,
    prompter: &Prompter,
) -> Result<(), String> {
    let fail = |e: AdminError| e.0;
    match command {
        UserCommand::Sync => {
            admin
                .sync()
                .await
                .map_err(|e| format!("Could not sync schema on db: {e}"))?;
            eprintln!("Success: database synced.");
        }
        UserCommand::List => {
            let users = admin.users().await.map_err(fail)?;
            if users.is_empty() {
                eprintln!("No client authentications exist.");
            }
            for (username, hash) in users {
                println!("'{username}' with password hash: {hash}");
            }
        }
        UserCommand::Add { client_id } => {
            let password = prompter.client_password("Enter the client's password: ")?;
            admin
                .add_user(client_id, &password)
                .await
                .map_err(|e| format!("Error: could not create user: {client_id}: {e}"))?;
            eprintln!("Success: created '{client_id}'");
        }
        UserCommand::Rm { client_id, yes } => {
            if admin
                .password_hash(client_id)
                .await
                .map_err(fail)?
                .is_none()
            {
                return Err(format!("Error: client '{client_id}' does not exist."));
            }
            if !yes
                && !prompter.confirm(&format!("Please confirm the removal of '{client_id}'?"))?
            {
                return Ok(());
            }
            if !admin.remove_user(client_id).await.map_err(fail)? {
                return Err(format!("Error: client '{client_id}' does not exist."));
            }
            eprintln!("Success: '{client_id}' was removed.");
        }
        UserCommand::Pwd { client_id } => {
            let password = prompter.client_password("Enter the client's new password: ")?;
            admin
                .set_password(client_id, &password)
                .await
                .map_err(fail)?;
            eprintln!("Success: client '{client_id}' password updated.");
        }
    }
    Ok(())
}

/// `amqtt_topic_mgr`'s `main`.
pub fn topic_mgr_main() -> ExitCode {
    let cli = TopicCli::parse();
    run("amqtt_topic_mgr", topic_mgr(cli))
}

async fn topic_mgr(cli: TopicCli) -> Result<(), String> {
    let prompter = Prompter::new();
    let syncing = matches!(cli.command, TopicCommand::Sync);
    let admin = open(&cli.db, syncing, &prompter).await?;
    let result = topic_command(&admin, &cli.command).await;
    admin.close().await;
    result
}

async fn topic_command(admin: &AuthAdmin, command: &TopicCommand) -> Result<(), String> {
    let fail = |e: AdminError| e.0;
    match command {
        TopicCommand::Sync => {
            admin
                .sync()
                .await
                .map_err(|e| format!("Could not sync schema on db: {e}"))?;
            eprintln!("Success: database synced.");
        }
        TopicCommand::List => {
            let rows = admin.topic_auths().await.map_err(fail)?;
            if rows.is_empty() {
                eprintln!("No client authorizations exist.");
            }
            for row in rows {
                println!(
                    "'{}':\n\tpublish: [{}], subscribe: [{}], receive: [{}]",
                    row.username,
                    row.publish.join(", "),
                    row.subscribe.join(", "),
                    row.receive.join(", ")
                );
            }
        }
        TopicCommand::Add {
            topic,
            client_id,
            action,
        } => {
            let action = action.action();
            admin
                .add_topic(client_id, action, topic)
                .await
                .map_err(fail)?;
            eprintln!(
                "Success: topic '{topic}' added to {} for '{client_id}'",
                action_name(action)
            );
        }
        TopicCommand::Rm {
            client_id,
            action,
            topic,
        } => {
            let action = action.action();
            admin
                .remove_topic(client_id, action, topic)
                .await
                .map_err(fail)?;
            eprintln!(
                "Success: removed topic '{topic}' from {} for '{client_id}'",
                action_name(action)
            );
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory as _;

    #[test]
    fn the_command_lines_are_consistent() {
        UserCli::command().debug_assert();
        TopicCli::command().debug_assert();
    }

    #[test]
    fn amqtt_flags_parse() {
        let cli = TopicCli::try_parse_from([
            "amqtt_topic_mgr",
            "-d",
            "postgresql",
            "-u",
            "me",
            "-h",
            "db.example",
            "-p",
            "5433",
            "add",
            "a/#",
            "-c",
            "alice",
            "-a",
            "publish",
        ])
        .expect("aMQTT's flags");
        assert_eq!(cli.db.host, "db.example");
        assert!(matches!(cli.command, TopicCommand::Add { ref topic, .. } if topic == "a/#"));
        assert_eq!(url_escape("p@ss:w/rd"), "p%40ss%3Aw%2Frd");
    }
}
