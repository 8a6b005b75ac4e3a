//! [`UserAuthDb`]: aMQTT's `amqtt.contrib.auth_db.UserAuthDBPlugin`.

use std::hint::black_box;
use std::num::NonZeroUsize;
use std::sync::Arc;

use amqtt_core::plugin::{BrokerContext, Plugin, PluginError, SessionInfo, Verdict, plugin};
use serde::{Deserialize, Serialize};
use tokio::sync::Semaphore;

use super::hashing::{Checked, Hasher};
use super::{Database, parse_connection};
use crate::answer_cache::{AnswerCache, DEFAULT_CACHE_SIZE, LoginKey};

/// Configuration of [`UserAuthDb`] (aMQTT's keys, plus the answer cache).
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct UserAuthDbConfig {
    /// The database, as an aMQTT (SQLAlchemy) URL: `sqlite+aiosqlite:///auth.db`,
    /// `postgresql+asyncpg://user:pass@host:5432/db`, `mysql+aiomysql://user:pass@host:3306/db`.
    /// Required.
    pub connection: Option<String>,
    /// Create the tables `user_auth` and `topic_auth` when they are missing, at start.
    pub sync_schema: bool,
    /// The accepted password hash schemes; the first writes new hashes (default
    /// `[argon2, bcrypt]`).
    pub hash_schemes: Vec<String>,
    /// Seconds a login answer is reused; 0 (the default) turns the cache off.
    pub cache_ttl: f64,
    /// Answers held at most.
    pub cache_size: usize,
}

impl Default for UserAuthDbConfig {
    fn default() -> UserAuthDbConfig {
        UserAuthDbConfig {
            connection: None,
            sync_schema: false,
            hash_schemes: vec!["argon2".to_owned(), "bcrypt".to_owned()],
            cache_ttl: 0.0,
            cache_size: DEFAULT_CACHE_SIZE,
        }
    }
}

/// Admits clients whose user name and password match a row of the `user_auth` table.
///
/// Password checks run on tokio's blocking threads, at most as many at once as the machine has
/// cores; an unknown user costs a check too. A stored hash of a scheme other than the first of
/// `hash_schemes` (or of that scheme with other parameters) is replaced by a new hash after a
/// successful login.
pub struct UserAuthDb {
    database: Database,
    hasher: Arc<Hasher>,
    checks: Arc<Semaphore>,
    cache: Option<AnswerCache<LoginKey, Verdict>>,
}

impl std::fmt::Debug for UserAuthDb {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("UserAuthDb")
            .field("connection", &self.database.url)
            .field("hash_schemes", &self.hasher.schemes())
            .finish_non_exhaustive()
    }
}

#[plugin(
    name = "user_auth_db",
    alias = "amqtt.contrib.auth_db.UserAuthDBPlugin",
    config = UserAuthDbConfig
)]
impl Plugin for UserAuthDb {
    fn build(config: UserAuthDbConfig, _ctx: &BrokerContext) -> Result<Self, PluginError> {
        let url = parse_connection(config.connection.as_deref())?;
        let hasher = Hasher::from_names(&config.hash_schemes)
            .map_err(|e| PluginError::new(format!("`hash_schemes`: {e}")))?;
        let cache = AnswerCache::configured(config.cache_ttl, config.cache_size)
            .map_err(PluginError::new)?;
        let cores = std::thread::available_parallelism().map_or(2, NonZeroUsize::get);
        Ok(UserAuthDb {
            database: Database::new(url, config.sync_schema),
            hasher: Arc::new(hasher),
            checks: Arc::new(Semaphore::new(cores)),
            cache,
        })
    }

    async fn start(&self) -> Result<(), PluginError> {
        self.database
            .start(<Self as amqtt_core::plugin::FromConfig>::NAME, "user_auth")
            .await
    }

    async fn close(&self) {
        self.database.close().await;
    }

    async fn authenticate(&self, session: &SessionInfo) -> Verdict {
        // aMQTT: `if not session.username or not session.password: return False`.
        let (Some(username), Some(password)) = (&session.username, &session.password) else {
            tracing::debug!("authentication failure: no user name or no password");
            return Verdict::Deny;
        };
        if username.is_empty() || password.is_empty() {
            tracing::debug!("authentication failure: empty user name or password");
            return Verdict::Deny;
        }
        let key = self
            .cache
            .as_ref()
            .map(|_| LoginKey::new(username, password));
        if let (Some(cache), Some(key)) = (&self.cache, &key)
            && let Some(verdict) = cache.get(key)
        {
            return verdict;
        }
        let verdict = self.check_login(username, password).await;
        if let (Some(cache), Some(key), Some(verdict)) = (&self.cache, key, verdict) {
            cache.insert(key, verdict);
        }
        verdict.unwrap_or(Verdict::Deny)
    }
}

impl UserAuthDb {
    /// Checks a login against the database; `None` when the database failed (Deny, not cached).
    async fn check_login(&self, username: &str, password: &[u8]) -> Option<Verdict> {
        let Some(store) = self.database.store() else {
            tracing::error!("authentication failure: the database is not open");
            return None;
        };
        let stored = match store.password_hash(username).await {
            Ok(stored) => stored,
            Err(e) => {
                tracing::error!(user = ?username, error = %e, "authentication failure: database error");
                return None;
            }
        };
        let Ok(permit) = self.checks.clone().acquire_owned().await else {
            return None; // never closed
        };
        let hasher = self.hasher.clone();
        let password = password.to_vec();
        let stored_hash = stored.clone();
        let checked = tokio::task::spawn_blocking(move || {
            let _permit = permit;
            match stored_hash {
                Some(hash) => Some(hasher.check(&password, &hash)),
                None => {
                    black_box(hasher.check_dummy(&password));
                    None
                }
            }
        })
        .await;
        match checked {
            Ok(Some(Checked::Match { rehash })) => {
                if let (Some(new), Some(old)) = (rehash, stored) {
                    match store.replace_hash(username, &old, &new).await {
                        Ok(_) => tracing::info!(user = ?username, "password re-hashed"),
                        Err(e) => {
                            tracing::warn!(user = ?username, error = %e, "cannot store the re-hashed password");
                        }
                    }
                }
                tracing::debug!(user = ?username, "authentication success");
                Some(Verdict::Allow)
            }
            Ok(Some(Checked::Mismatch)) => {
                tracing::debug!(user = ?username, "authentication failure: wrong password");
                Some(Verdict::Deny)
            }
            Ok(Some(Checked::UnknownScheme)) => {
                tracing::warn!(
                    user = ?username,
                    "authentication failure: the stored password hash is of no scheme listed in `hash_schemes`"
                );
                Some(Verdict::Deny)
            }
            Ok(None) => {
                tracing::debug!(user = ?username, "authentication failure: unknown user");
                Some(Verdict::Deny)
            }
            Err(e) => {
                tracing::error!(error = %e, "password check failed");
                None
            }
        }
    }
}
