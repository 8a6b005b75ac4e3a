//! The two plugins: logins ([`UserAuthHttp`]) and topics ([`TopicAuthHttp`]).

use amqtt_core::plugin::{
    Action, BrokerContext, FromConfig, Plugin, PluginError, SessionInfo, Verdict, plugin,
};
use reqwest::Url;
use serde_json::Value;

use super::backend::{Backend, Params};
use super::config::HttpConfig;
use crate::answer_cache::{AnswerCache, LoginKey};

/// The cache key of a login: what the request carries.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
struct LoginRequest {
    login: LoginKey,
    has_username: bool,
    has_password: bool,
    client_id: Box<str>,
}

/// The cache key of a topic check: what the request carries.
type TopicRequest = (Option<Box<str>>, Box<str>, Box<str>, u8);

/// Asks the backend's `user_uri` whether a client may connect (aMQTT's `UserAuthHttpPlugin`).
///
/// The request carries `username`, `password` and `client_id`. Allowed when the backend says
/// yes, denied when it says no, no opinion when its answer has none (see `response_mode`);
/// denied when it cannot be asked (down, refusing, TLS failure, slower than `timeout`, an
/// answer that is not what `response_mode` expects).
#[derive(Debug)]
pub struct UserAuthHttp {
    backend: Backend,
    url: Url,
    cache: Option<AnswerCache<LoginRequest, Option<bool>>>,
}

#[plugin(
    name = "auth_http",
    alias = "amqtt.contrib.http.UserAuthHttpPlugin",
    config = HttpConfig
)]
impl Plugin for UserAuthHttp {
    fn build(config: HttpConfig, _ctx: &BrokerContext) -> Result<Self, PluginError> {
        if config.topic_uri.is_some() {
            return Err(PluginError::new(
                "`topic_uri` belongs to amqtt.contrib.http.TopicAuthHttpPlugin: configure it \
                 there; this plugin takes `user_uri`",
            ));
        }
        let cache = AnswerCache::configured(config.cache_ttl, config.cache_size)
            .map_err(PluginError::new)?;
        let backend = Backend::new(&config).map_err(PluginError::new)?;
        let uri = config.user_uri.as_deref().unwrap_or("/user");
        let url = backend.url("user_uri", uri).map_err(PluginError::new)?;
        Ok(UserAuthHttp {
            backend,
            url,
            cache,
        })
    }

    async fn start(&self) -> Result<(), PluginError> {
        self.backend
            .probe()
            .await
            .map_err(|e| PluginError::named(Self::NAME, e))
    }

    async fn authenticate(&self, session: &SessionInfo) -> Verdict {
        let password = session.password.as_deref();
        let key = self.cache.as_ref().map(|_| LoginRequest {
            login: LoginKey::new(
                session.username.as_deref().unwrap_or_default(),
                password.unwrap_or_default(),
            ),
            has_username: session.username.is_some(),
            has_password: password.is_some(),
            client_id: (*session.client_id).into(),
        });
        if let (Some(cache), Some(key)) = (&self.cache, &key)
            && let Some(answer) = cache.get(key)
        {
            return Verdict::from(answer);
        }
        let mut params = Params::new();
        params.insert("username".into(), optional(session.username.as_deref()));
        params.insert(
            "password".into(),
            optional(password.map(String::from_utf8_lossy).as_deref()),
        );
        params.insert("client_id".into(), (*session.client_id).into());
        match self.backend.ask(&self.url, &params).await {
            Ok(answer) => {
                if let (Some(cache), Some(key)) = (&self.cache, key) {
                    cache.insert(key, answer);
                }
                tracing::debug!(user = ?session.username.as_deref(), ?answer, "HTTP login check");
                Verdict::from(answer)
            }
            Err(e) => {
                tracing::warn!(user = ?session.username.as_deref(), url = %self.url, error = %e, "HTTP login check failed: denied");
                Verdict::Deny
            }
        }
    }
}

/// Asks the backend's `topic_uri` whether a client may subscribe to, publish to or receive from
/// a topic (aMQTT's `TopicAuthHttpPlugin`), after asking `superuser_uri`, when set, whether
/// the client's user is a superuser.
///
/// The topic request carries `username`, `client_id`, `topic` and `acc` (1 receive, 2 publish,
/// 4 subscribe); the superuser request carries `username`. A superuser is allowed every topic
/// and the topic URI is not asked; a client without a user name is never a superuser. An
/// answer without an opinion denies (aMQTT's broker takes `None` from a topic plugin as a
/// denial), and so does a backend that cannot be asked.
#[derive(Debug)]
pub struct TopicAuthHttp {
    backend: Backend,
    url: Url,
    superuser_url: Option<Url>,
    cache: Option<AnswerCache<TopicRequest, Option<bool>>>,
    superusers: Option<AnswerCache<Box<str>, Option<bool>>>,
}

#[plugin(
    name = "topic_http",
    alias = "amqtt.contrib.http.TopicAuthHttpPlugin",
    config = HttpConfig
)]
impl Plugin for TopicAuthHttp {
    fn build(config: HttpConfig, _ctx: &BrokerContext) -> Result<Self, PluginError> {
        if config.user_uri.is_some() {
            return Err(PluginError::new(
                "`user_uri` belongs to amqtt.contrib.http.UserAuthHttpPlugin: configure it \
                 there; this plugin takes `topic_uri`",
            ));
        }
        let cache = AnswerCache::configured(config.cache_ttl, config.cache_size)
            .map_err(PluginError::new)?;
        let backend = Backend::new(&config).map_err(PluginError::new)?;
        let uri = config.topic_uri.as_deref().unwrap_or("/acl");
        let url = backend.url("topic_uri", uri).map_err(PluginError::new)?;
        let superuser_url = config
            .superuser_uri
            .as_deref()
            .map(|uri| backend.url("superuser_uri", uri))
            .transpose()
            .map_err(PluginError::new)?;
        Ok(TopicAuthHttp {
            backend,
            url,
            superuser_url,
            superusers: AnswerCache::configured(config.cache_ttl, config.cache_size)
                .map_err(PluginError::new)?,
            cache,
        })
    }

    async fn start(&self) -> Result<(), PluginError> {
        self.backend
            .probe()
            .await
            .map_err(|e| PluginError::named(Self::NAME, e))
    }

    async fn topic_filtering(&self, session: &SessionInfo, topic: &str, action: Action) -> Verdict {
        if let Some(user) = session.username.as_deref()
            && self.is_superuser(user).await
        {
            return Verdict::Allow;
        }
        let acc: u8 = match action {
            Action::Receive => 1,
            Action::Publish => 2,
            Action::Subscribe => 4,
        };
        let key = self.cache.as_ref().map(|_| {
            (
                session.username.as_deref().map(Box::from),
                Box::from(&*session.client_id),
                Box::from(topic),
                acc,
            )
        });
        if let (Some(cache), Some(key)) = (&self.cache, &key)
            && let Some(answer) = cache.get(key)
        {
            return topic_verdict(answer);
        }
        let mut params = Params::new();
        params.insert("username".into(), optional(session.username.as_deref()));
        params.insert("client_id".into(), (*session.client_id).into());
        params.insert("topic".into(), topic.into());
        params.insert("acc".into(), acc.into());
        match self.backend.ask(&self.url, &params).await {
            Ok(answer) => {
                if let (Some(cache), Some(key)) = (&self.cache, key) {
                    cache.insert(key, answer);
                }
                tracing::debug!(user = ?session.username.as_deref(), topic, acc, ?answer, "HTTP topic check");
                topic_verdict(answer)
            }
            Err(e) => {
                tracing::warn!(user = ?session.username.as_deref(), topic, url = %self.url, error = %e, "HTTP topic check failed: denied");
                Verdict::Deny
            }
        }
    }
}

impl TopicAuthHttp {
    /// Whether `superuser_uri` is set and says yes for `user`.
    async fn is_superuser(&self, user: &str) -> bool {
        let Some(url) = &self.superuser_url else {
            return false;
        };
        if let Some(answer) = self
            .superusers
            .as_ref()
            .and_then(|c| c.get(&Box::from(user)))
        {
            return answer == Some(true);
        }
        let mut params = Params::new();
        params.insert("username".into(), user.into());
        match self.backend.ask(url, &params).await {
            Ok(answer) => {
                if let Some(cache) = &self.superusers {
                    cache.insert(user.into(), answer);
                }
                answer == Some(true)
            }
            Err(e) => {
                tracing::warn!(user, %url, error = %e, "HTTP superuser check failed: not a superuser");
                false
            }
        }
    }
}

/// A topic answer as a verdict: no opinion denies, as in aMQTT's broker.
fn topic_verdict(answer: Option<bool>) -> Verdict {
    Verdict::from(answer == Some(true))
}

/// A JSON string, or null.
fn optional(text: Option<&str>) -> Value {
    text.map_or(Value::Null, Value::from)
}
