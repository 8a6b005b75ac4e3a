//! The LDAP directory both plugins ask: connections with timeouts, the service account's
//! connection, finding a user's entry, and binding as the user. Every user name that goes into a
//! filter is escaped with [`ldap_escape`], every one that goes into a DN with [`dn_escape`].

use std::collections::HashMap;
use std::time::Duration;

use ldap3::{
    Ldap, LdapConnAsync, LdapConnSettings, LdapError, Scope, SearchEntry, SearchOptions, dn_escape,
    ldap_escape,
};
use tokio::sync::Mutex;

/// LDAP result code `success`.
const SUCCESS: u32 = 0;
/// LDAP result code `sizeLimitExceeded`: the search matched more entries than asked for.
const SIZE_LIMIT_EXCEEDED: u32 = 4;
/// LDAP result code `noSuchObject`.
const NO_SUCH_OBJECT: u32 = 32;
/// LDAP result code `invalidCredentials`.
const INVALID_CREDENTIALS: u32 = 49;

/// The account the plugins search with (`bind_dn`, `bind_password`).
#[derive(Clone)]
pub(crate) struct ServiceAccount {
    /// Its DN.
    pub(crate) dn: String,
    /// Its password.
    pub(crate) password: String,
}

/// What the plugins know of the directory: from the configuration keys.
pub(crate) struct DirectoryKeys {
    /// `server`: the LDAP URL.
    pub(crate) server: String,
    /// `base_dn`: where users are searched (search mode) or which their DN ends with (direct).
    pub(crate) base_dn: String,
    /// `user_attribute`: the attribute holding the user name.
    pub(crate) user_attribute: String,
    /// `bind_dn`/`bind_password`: search then bind when set, bind directly otherwise.
    pub(crate) service: Option<ServiceAccount>,
    /// `timeout`: for connecting and for each operation.
    pub(crate) timeout: Duration,
}

/// A user's entry: its DN and the attributes asked for (names lower-cased).
#[derive(Debug, Clone, Default)]
pub(crate) struct UserEntry {
    /// The entry's DN.
    pub(crate) dn: String,
    /// Attribute (lower-case name) -> values.
    pub(crate) attributes: HashMap<String, Vec<String>>,
}

/// The answer of a lookup that reached the server.
#[derive(Debug)]
pub(crate) enum Lookup {
    /// Exactly one entry.
    Found(UserEntry),
    /// No entry, or the user's credentials were refused.
    Refused(&'static str),
}

/// Why a lookup has no answer: the server could not be asked.
#[derive(Debug, thiserror::Error)]
pub(crate) enum DirectoryError {
    /// Connecting, or an operation, failed or timed out.
    #[error("{0}")]
    Ldap(#[from] LdapError),
    /// Connecting took longer than `timeout`.
    #[error("no answer within {0:?}")]
    Timeout(Duration),
    /// The server answered an unexpected result code.
    #[error("{operation}: result code {rc}: {text}")]
    Result {
        /// The operation.
        operation: &'static str,
        /// Its LDAP result code.
        rc: u32,
        /// The server's diagnostic text.
        text: String,
    },
}

/// The directory: its keys and the service account's connection (search mode).
pub(crate) struct Directory {
    keys: DirectoryKeys,
    service_conn: Mutex<Option<Ldap>>,
}

impl Directory {
    pub(crate) fn new(keys: DirectoryKeys) -> Directory {
        Directory {
            keys,
            service_conn: Mutex::new(None),
        }
    }

    /// Whether users are searched with the service account before binding.
    pub(crate) fn search_mode(&self) -> bool {
        self.keys.service.is_some()
    }

    /// A new connection to the server, its driver running on a task of its own.
    async fn connect(&self) -> Result<Ldap, DirectoryError> {
        let timeout = self.keys.timeout;
        let settings = LdapConnSettings::new().set_conn_timeout(timeout);
        let (conn, ldap) = tokio::time::timeout(
            timeout,
            LdapConnAsync::with_settings(settings, &self.keys.server),
        )
        .await
        .map_err(|_| DirectoryError::Timeout(timeout))??;
        tokio::spawn(async move {
            if let Err(e) = conn.drive().await {
                tracing::debug!(error = %e, "LDAP connection ended");
            }
        });
        Ok(ldap)
    }

    /// Binds `ldap` as `dn` with `password`: `Ok(false)` when the server refuses the
    /// credentials.
    async fn bind(
        &self,
        ldap: &mut Ldap,
        dn: &str,
        password: &str,
    ) -> Result<bool, DirectoryError> {
        let result = ldap
            .with_timeout(self.keys.timeout)
            .simple_bind(dn, password)
            .await?;
        match result.rc {
            SUCCESS => Ok(true),
            INVALID_CREDENTIALS => Ok(false),
            rc => Err(DirectoryError::Result {
                operation: "bind",
                rc,
                text: result.text,
            }),
        }
    }

    /// Connects and binds as the service account, then checks that `base_dn` exists: what the
    /// `start` hook runs. In direct mode, connects and reads the root DSE anonymously (any LDAP
    /// answer will do). The error names the key at fault.
    pub(crate) async fn check(&self) -> Result<(), String> {
        let server = &self.keys.server;
        let unanswered = |what: &str, e: &dyn std::fmt::Display| {
            format!("`server`: {server} did not answer {what}: {e}")
        };
        let mut ldap = self
            .connect()
            .await
            .map_err(|e| format!("`server`: cannot reach {server}: {e}"))?;
        let Some(service) = &self.keys.service else {
            ldap.with_timeout(self.keys.timeout)
                .search("", Scope::Base, "(objectClass=*)", ["1.1"])
                .await
                .map_err(|e| unanswered("a search", &e))?;
            let _ = ldap.unbind().await;
            return Ok(());
        };
        match self.bind(&mut ldap, &service.dn, &service.password).await {
            Ok(true) => {}
            Ok(false) => {
                return Err(format!(
                    "`bind_dn`/`bind_password`: {server} refused the credentials of `{}`",
                    service.dn
                ));
            }
            Err(e @ DirectoryError::Result { .. }) => {
                return Err(format!("`bind_dn`: binding as `{}`: {e}", service.dn));
            }
            Err(e) => return Err(unanswered("a bind", &e)),
        }
        let base = ldap
            .with_timeout(self.keys.timeout)
            .search(&self.keys.base_dn, Scope::Base, "(objectClass=*)", ["1.1"])
            .await
            .map_err(|e| unanswered("a search", &e))?;
        match base.1.rc {
            SUCCESS => {}
            NO_SUCH_OBJECT => {
                return Err(format!(
                    "`base_dn`: {server} has no entry `{}`",
                    self.keys.base_dn
                ));
            }
            rc => {
                return Err(format!(
                    "`base_dn`: reading `{}`: result code {rc}: {}",
                    self.keys.base_dn, base.1.text
                ));
            }
        }
        *self.service_conn.lock().await = Some(ldap);
        Ok(())
    }

    /// The service account's connection, opened and bound again when it was closed.
    async fn service_connection(&self, service: &ServiceAccount) -> Result<Ldap, DirectoryError> {
        let mut slot = self.service_conn.lock().await;
        if let Some(ldap) = slot.as_mut()
            && !ldap.is_closed()
        {
            return Ok(ldap.clone());
        }
        *slot = None;
        let mut ldap = self.connect().await?;
        if !self.bind(&mut ldap, &service.dn, &service.password).await? {
            return Err(DirectoryError::Result {
                operation: "bind as `bind_dn`",
                rc: INVALID_CREDENTIALS,
                text: "invalid credentials".to_owned(),
            });
        }
        *slot = Some(ldap.clone());
        Ok(ldap)
    }

    /// Searches the user's entry with the service account, once more on a new connection if
    /// the first attempt failed (the server may have closed an idle connection).
    async fn search_user(
        &self,
        service: &ServiceAccount,
        username: &str,
        attributes: &[&str],
    ) -> Result<Lookup, DirectoryError> {
        match self.search_user_once(service, username, attributes).await {
            Ok(lookup) => Ok(lookup),
            Err(first) => {
                tracing::debug!(error = %first, "LDAP search failed; reconnecting");
                *self.service_conn.lock().await = None;
                self.search_user_once(service, username, attributes).await
            }
        }
    }

    async fn search_user_once(
        &self,
        service: &ServiceAccount,
        username: &str,
        attributes: &[&str],
    ) -> Result<Lookup, DirectoryError> {
        let mut ldap = self.service_connection(service).await?;
        let filter = format!("({}={})", self.keys.user_attribute, ldap_escape(username));
        let attrs: Vec<&str> = if attributes.is_empty() {
            vec!["1.1"]
        } else {
            attributes.to_vec()
        };
        // Two are enough to tell "exactly one" from "several".
        let result = ldap
            .with_search_options(SearchOptions::new().sizelimit(2))
            .with_timeout(self.keys.timeout)
            .search(&self.keys.base_dn, Scope::Subtree, &filter, attrs)
            .await?;
        let mut entries: Vec<SearchEntry> = result
            .0
            .into_iter()
            .filter(|e| !e.is_ref() && !e.is_intermediate())
            .map(SearchEntry::construct)
            .collect();
        match (result.1.rc, entries.len()) {
            (SUCCESS, 0) | (NO_SUCH_OBJECT, _) => Ok(Lookup::Refused("unknown user")),
            (SUCCESS, 1) => Ok(Lookup::Found(user_entry(entries.remove(0)))),
            (SUCCESS | SIZE_LIMIT_EXCEEDED, _) => Ok(Lookup::Refused("several entries match")),
            (rc, _) => Err(DirectoryError::Result {
                operation: "search",
                rc,
                text: result.1.text,
            }),
        }
    }

    /// The DN a user binds as in direct mode: `<user_attribute>=<user>,<base_dn>`.
    fn direct_dn(&self, username: &str) -> String {
        format!(
            "{}={},{}",
            self.keys.user_attribute,
            dn_escape(username),
            self.keys.base_dn
        )
    }

    /// Checks the user's password by binding as the user on a connection of its own; in search
    /// mode the entry is found first with the service account. `attributes` are read from the
    /// entry: with the service account in search mode, as the user in direct mode.
    pub(crate) async fn login(
        &self,
        username: &str,
        password: &str,
        attributes: &[&str],
    ) -> Result<Lookup, DirectoryError> {
        if username.is_empty() {
            return Ok(Lookup::Refused("empty user name"));
        }
        if password.is_empty() {
            // An empty password is an unauthenticated bind (RFC 4513 5.1.2): never a login.
            return Ok(Lookup::Refused("empty password"));
        }
        let entry = match &self.keys.service {
            Some(service) => match self.search_user(service, username, attributes).await? {
                Lookup::Found(entry) => Some(entry),
                refused @ Lookup::Refused(_) => return Ok(refused),
            },
            None => None,
        };
        let dn = entry
            .as_ref()
            .map_or_else(|| self.direct_dn(username), |e| e.dn.clone());
        let mut ldap = self.connect().await?;
        let bound = self.bind(&mut ldap, &dn, password).await;
        let answer = match (bound, entry) {
            (Ok(false), _) => Ok(Lookup::Refused("wrong password or unknown user")),
            (Ok(true), Some(entry)) => Ok(Lookup::Found(entry)),
            (Ok(true), None) if attributes.is_empty() => Ok(Lookup::Found(UserEntry {
                dn,
                ..UserEntry::default()
            })),
            (Ok(true), None) => self.read_own_entry(&mut ldap, dn, attributes).await,
            (Err(e), _) => Err(e),
        };
        let _ = ldap.unbind().await;
        answer
    }

    /// Looks the user up with the service account (search mode only; direct mode needs the
    /// password, see [`Directory::login`]).
    pub(crate) async fn lookup(
        &self,
        username: &str,
        attributes: &[&str],
    ) -> Result<Lookup, DirectoryError> {
        match &self.keys.service {
            _ if username.is_empty() => Ok(Lookup::Refused("empty user name")),
            Some(service) => self.search_user(service, username, attributes).await,
            None => Ok(Lookup::Refused("no service account")),
        }
    }

    /// Reads `attributes` of the entry `dn` the connection is bound as.
    async fn read_own_entry(
        &self,
        ldap: &mut Ldap,
        dn: String,
        attributes: &[&str],
    ) -> Result<Lookup, DirectoryError> {
        let result = ldap
            .with_timeout(self.keys.timeout)
            .search(&dn, Scope::Base, "(objectClass=*)", attributes.to_vec())
            .await?;
        let mut entries: Vec<SearchEntry> = result
            .0
            .into_iter()
            .filter(|e| !e.is_ref() && !e.is_intermediate())
            .map(SearchEntry::construct)
            .collect();
        match (result.1.rc, entries.len()) {
            (SUCCESS, 1) => Ok(Lookup::Found(user_entry(entries.remove(0)))),
            (SUCCESS | NO_SUCH_OBJECT, _) => Ok(Lookup::Refused("entry not readable")),
            (rc, _) => Err(DirectoryError::Result {
                operation: "read entry",
                rc,
                text: result.1.text,
            }),
        }
    }
}

/// An entry of a search, its attribute names lower-cased (LDAP names are
/// case-insensitive; the server answers with the schema's spelling).
fn user_entry(entry: SearchEntry) -> UserEntry {
    UserEntry {
        dn: entry.dn,
        attributes: entry
            .attrs
            .into_iter()
            .map(|(name, values)| (name.to_ascii_lowercase(), values))
            .collect(),
    }
}
