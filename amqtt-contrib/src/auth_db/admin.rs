//! What aMQTT's `user_mgr` and `topic_mgr` tools do (its `UserManager` and `TopicManager`), for
//! the `amqtt_user_mgr` and `amqtt_topic_mgr` binaries and for programs that manage users.
//!
//! New passwords are hashed with the current scheme of aMQTT's default `hash_schemes` (argon2id
//! with argon2-cffi's parameters), on a blocking thread.

use amqtt_core::plugin::Action;

use super::hashing::Hasher;
use super::store::{AuthStore, TopicAuthRow};
use crate::db::DbUrl;

/// Why an admin operation failed: the message for the user.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct AdminError(pub String);

impl From<sqlx::Error> for AdminError {
    fn from(e: sqlx::Error) -> AdminError {
        AdminError(format!("database error: {e}"))
    }
}

/// An open auth database.
#[derive(Debug)]
pub struct AuthAdmin {
    store: AuthStore,
    hasher: Hasher,
}

impl AuthAdmin {
    /// Opens the database of `url` (failing within a few seconds when it does not answer).
    pub async fn open(url: &DbUrl) -> Result<AuthAdmin, AdminError> {
        Ok(AuthAdmin {
            store: AuthStore::open(url).await.map_err(AdminError)?,
            hasher: Hasher::default(),
        })
    }

    /// Closes the connections.
    pub async fn close(self) {
        self.store.close().await;
    }

    /// Creates the tables `user_auth` and `topic_auth` when missing (aMQTT's `db_sync`).
    pub async fn sync(&self) -> Result<(), AdminError> {
        self.store.sync_schema().await.map_err(AdminError::from)
    }

    /// Every user and password hash, by user name.
    pub async fn users(&self) -> Result<Vec<(String, String)>, AdminError> {
        Ok(self.store.users().await?)
    }

    /// The password hash of `username`, if the user exists.
    pub async fn password_hash(&self, username: &str) -> Result<Option<String>, AdminError> {
        Ok(self.store.password_hash(username).await?)
    }

    /// Hashes `password` on a blocking thread.
    async fn hash(&self, password: &str) -> Result<String, AdminError> {
        let hasher = self.hasher.clone();
        let password = password.as_bytes().to_vec();
        tokio::task::spawn_blocking(move || hasher.hash(&password))
            .await
            .map_err(|e| AdminError(format!("hashing failed: {e}")))?
            .map_err(|e| AdminError(format!("cannot hash the password: {e}")))
    }

    /// Adds a user with `password`; fails when the user exists.
    pub async fn add_user(&self, username: &str, password: &str) -> Result<(), AdminError> {
        check_username(username)?;
        if self.store.password_hash(username).await?.is_some() {
            return Err(AdminError(format!("Username '{username}' already exists.")));
        }
        let hash = self.hash(password).await?;
        self.add_user_with_hash(username, &hash).await
    }

    /// Adds a user with a ready-made password hash (argon2 or bcrypt, say from another system);
    /// fails when the user exists.
    pub async fn add_user_with_hash(&self, username: &str, hash: &str) -> Result<(), AdminError> {
        check_username(username)?;
        if self.store.insert_user(username, hash).await? {
            Ok(())
        } else {
            Err(AdminError(format!("Username '{username}' already exists.")))
        }
    }

    /// Removes a user; whether it existed.
    pub async fn remove_user(&self, username: &str) -> Result<bool, AdminError> {
        Ok(self.store.delete_user(username).await?)
    }

    /// Changes the password of an existing user.
    pub async fn set_password(&self, username: &str, password: &str) -> Result<(), AdminError> {
        if self.store.password_hash(username).await?.is_none() {
            return Err(AdminError(format!("Username '{username}' doesn't exist.")));
        }
        let hash = self.hash(password).await?;
        if self.store.set_hash(username, &hash).await? {
            Ok(())
        } else {
            Err(AdminError(format!("Username '{username}' doesn't exist.")))
        }
    }

    /// Every `topic_auth` row, by user name.
    pub async fn topic_auths(&self) -> Result<Vec<TopicAuthRow>, AdminError> {
        Ok(self.store.topic_auths().await?)
    }

    /// The `topic_auth` row of `username`, if there is one.
    pub async fn topic_auth(&self, username: &str) -> Result<Option<TopicAuthRow>, AdminError> {
        Ok(self.store.topic_auth(username).await?)
    }

    /// Adds `topic` to the `action` list of `username`, creating the user's `topic_auth` row if
    /// needed. Fails when the topic is listed already, when it is not a valid topic filter, and
    /// (as aMQTT) for a publish topic starting with `$`.
    pub async fn add_topic(
        &self,
        username: &str,
        action: Action,
        topic: &str,
    ) -> Result<(), AdminError> {
        check_username(username)?;
        if !amqtt_core::topic::valid_topic_filter(topic) {
            return Err(AdminError(format!(
                "'{topic}' is not a valid topic filter."
            )));
        }
        if action == Action::Publish && topic.starts_with('$') {
            return Err(AdminError(
                "MQTT does not allow clients to publish to $ topics.".to_owned(),
            ));
        }
        self.store.insert_topic_auth(username).await?;
        let row = self
            .store
            .topic_auth(username)
            .await?
            .ok_or_else(|| AdminError(format!("Topic auth doesn't exist for '{username}'")))?;
        let mut list = row.list(action).to_vec();
        if list.iter().any(|listed| listed == topic) {
            return Err(AdminError(format!(
                "Topic '{topic}' already exists for '{}'.",
                action_name(action)
            )));
        }
        list.push(topic.to_owned());
        self.store.set_topics(username, action, &list).await?;
        Ok(())
    }

    /// Removes `topic` from the `action` list of `username`; fails when it is not listed.
    pub async fn remove_topic(
        &self,
        username: &str,
        action: Action,
        topic: &str,
    ) -> Result<(), AdminError> {
        let row = self
            .store
            .topic_auth(username)
            .await?
            .ok_or_else(|| AdminError(format!("client '{username}' doesn't exist.")))?;
        let list = row.list(action);
        if !list.iter().any(|listed| listed == topic) {
            return Err(AdminError(format!(
                "Error: topic '{topic}' not in the {} allow list for {username}.",
                action_name(action)
            )));
        }
        let kept: Vec<String> = list.iter().filter(|l| *l != topic).cloned().collect();
        self.store.set_topics(username, action, &kept).await?;
        Ok(())
    }
}

/// aMQTT's name of an action (`publish`, `subscribe`, `receive`).
pub fn action_name(action: Action) -> &'static str {
    match action {
        Action::Publish => "publish",
        Action::Subscribe => "subscribe",
        Action::Receive => "receive",
    }
}

/// Refuses an empty user name (no client could log in with it).
fn check_username(username: &str) -> Result<(), AdminError> {
    if username.is_empty() {
        Err(AdminError("the client id is empty".to_owned()))
    } else {
        Ok(())
    }
}
