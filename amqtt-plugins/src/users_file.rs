//! A file of users that a plugin loads at start and again on a hot reload (`auth_file`'s and
//! `auth_scram`'s password file): its path and its users, replaced whole.

use std::path::{Path, PathBuf};

use amqtt_core::plugin::{PluginError, Reload, Swappable};

/// The users read from one file, in the form a plugin checks them.
pub(crate) trait UserTable: Sized + Send + Sync + 'static {
    /// What the log says when a file of these is put in force.
    const LOADED: &'static str;
    /// Reads and parses the file at `path`; errors name the file.
    fn read(path: &Path) -> Result<Self, PluginError>;
    /// How many users there are.
    fn len(&self) -> usize;
}

/// A file of users and the path it was read from.
pub(crate) struct UsersFile<T> {
    /// The file, as configured.
    pub(crate) path: PathBuf,
    /// Its users.
    pub(crate) users: T,
}

impl<T: UserTable> UsersFile<T> {
    /// Reads the file a plugin's section names (`configured`, its `password_file`): an error
    /// when the section names none or the file does not load.
    pub(crate) fn read(configured: Option<PathBuf>) -> Result<UsersFile<T>, PluginError> {
        let Some(path) = configured else {
            return Err(PluginError::new(
                "no `password_file` configured: give the path of the password file",
            ));
        };
        let users = T::read(&path)?;
        Ok(UsersFile { path, users })
    }

    /// Reads the file at start and logs it.
    pub(crate) fn load(configured: Option<PathBuf>) -> Result<UsersFile<T>, PluginError> {
        let file = UsersFile::read(configured)?;
        file.log_loaded();
        Ok(file)
    }

    /// For a hot reload of the plugin `plugin`: reads the file on a blocking thread (a slow
    /// disk stalls no connection) and stages it in `state`; it is put in force, and logged,
    /// only when the whole reload commits.
    pub(crate) async fn stage<'a>(
        state: &'a Swappable<UsersFile<T>>,
        plugin: &'static str,
        configured: Option<PathBuf>,
    ) -> Result<Reload<'a>, PluginError> {
        let file = tokio::task::spawn_blocking(move || UsersFile::<T>::read(configured))
            .await
            .map_err(|e| PluginError::named(plugin, format!("reading the password file: {e}")))?
            .map_err(|e| e.for_plugin(plugin))?;
        Ok(Reload::with(move || file.put_in_force(state)))
    }

    /// Puts this file in `state` now and logs it.
    pub(crate) fn put_in_force(self, state: &Swappable<UsersFile<T>>) {
        self.log_loaded();
        state.replace(self);
    }

    /// Logs what this file holds.
    fn log_loaded(&self) {
        let (users, file) = (self.users.len(), self.path.display());
        tracing::info!(users, file = %file, "{}", T::LOADED);
    }
}
