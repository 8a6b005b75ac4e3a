//! The MQTT 5.0 flags `amqtt_pub` and `amqtt_sub` share with mosquitto's clients:
//! `-V`/`--protocol-version` and `-D`/`--property <command> <identifier> <value>...`.

use std::num::{NonZeroU16, NonZeroU32};

use amqtt_core::codec::{ByteString, Properties, ProtocolVersion};
use bytes::Bytes;

/// Parses a `-V` value as mosquitto's clients take it: `mqttv5`/`5`, `mqttv311`/`311`,
/// `mqttv31`/`31`.
pub fn parse_protocol_version(value: &str) -> Result<ProtocolVersion, String> {
    match value {
        "mqttv5" | "5" => Ok(ProtocolVersion::V5),
        "mqttv311" | "311" => Ok(ProtocolVersion::V311),
        "mqttv31" | "31" => Ok(ProtocolVersion::V31),
        _ => Err(format!(
            "protocol version must be mqttv5, mqttv311 or mqttv31 (or 5, 311, 31), not `{value}`"
        )),
    }
}

/// The properties `-D` flags set, by the packet they go in.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PacketProperties {
    /// CONNECT's (`-D connect ...`).
    pub connect: Properties,
    /// Each PUBLISH's (`-D publish ...`).
    pub publish: Properties,
    /// SUBSCRIBE's (`-D subscribe ...`).
    pub subscribe: Properties,
}

impl PacketProperties {
    /// Reads the values of every `-D` flag, in order: each flag is `command identifier value`,
    /// or `command user-property name value`. Only 5.0 carries properties.
    pub fn parse(values: &[String], version: ProtocolVersion) -> Result<Self, String> {
        let mut props = PacketProperties::default();
        if !values.is_empty() && !version.is_v5() {
            return Err("-D properties need MQTT 5.0 (-V mqttv5)".to_owned());
        }
        let mut rest = values;
        while !rest.is_empty() {
            let len = match rest.get(1) {
                Some(identifier) if identifier == "user-property" => 4,
                _ => 3,
            };
            let (flag, after) = rest.split_at(len.min(rest.len()));
            props.set(flag)?;
            rest = after;
        }
        Ok(props)
    }

    /// Applies one `-D` flag.
    fn set(&mut self, flag: &[String]) -> Result<(), String> {
        let [command, identifier, values @ ..] = flag else {
            return Err("-D needs a command, a property name and a value".to_owned());
        };
        let target = match command.to_ascii_lowercase().as_str() {
            "connect" => &mut self.connect,
            "publish" => &mut self.publish,
            "subscribe" => &mut self.subscribe,
            other => {
                return Err(format!(
                    "-D {other}: properties of that packet are not supported here (connect, publish and subscribe are)"
                ));
            }
        };
        let bad = |what: &str| format!("-D {command} {identifier}: {what}");
        if identifier == "user-property" {
            let [name, value] = values else {
                return Err(bad("needs a name and a value"));
            };
            target.user_properties.push((
                ByteString::from(name.as_str()),
                ByteString::from(value.as_str()),
            ));
            return Ok(());
        }
        let [value] = values else {
            return Err(bad("needs exactly one value"));
        };
        let value = value.as_str();
        let number = || value.parse::<u32>().map_err(|_| bad("needs a number"));
        let flag = || match value {
            "0" => Ok(false),
            "1" => Ok(true),
            _ => Err(bad("needs 0 or 1")),
        };
        let text = || ByteString::from(value);
        match (command.to_ascii_lowercase().as_str(), identifier.as_str()) {
            ("connect", "session-expiry-interval") => {
                target.session_expiry_interval = Some(number()?)
            }
            ("connect", "receive-maximum") => {
                let v = u16::try_from(number()?).ok().and_then(NonZeroU16::new);
                target.receive_maximum = Some(v.ok_or_else(|| bad("needs 1 to 65535"))?);
            }
            ("connect", "maximum-packet-size") => {
                target.maximum_packet_size =
                    Some(NonZeroU32::new(number()?).ok_or_else(|| bad("needs a non-zero size"))?);
            }
            ("connect", "request-problem-information") => {
                target.request_problem_information = Some(flag()?);
            }
            ("connect", "request-response-information") => {
                target.request_response_information = Some(flag()?);
            }
            ("publish", "message-expiry-interval") => {
                target.message_expiry_interval = Some(number()?)
            }
            ("publish", "content-type") => target.content_type = Some(text()),
            ("publish", "payload-format-indicator") => {
                target.payload_format_indicator = Some(flag()?)
            }
            ("publish", "response-topic") => target.response_topic = Some(text()),
            ("publish", "correlation-data") => {
                target.correlation_data = Some(Bytes::copy_from_slice(value.as_bytes()));
            }
            ("subscribe", "subscription-identifier") => {
                let id = NonZeroU32::new(number()?).filter(|v| v.get() <= 268_435_455);
                target.subscription_identifiers =
                    vec![id.ok_or_else(|| bad("needs 1 to 268435455"))?];
            }
            _ => return Err(bad("not a property this tool can set")),
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The values of the `-D` flags `list`, as clap collects them.
    fn flags(list: &[&[&str]]) -> Vec<String> {
        list.iter()
            .flat_map(|f| f.iter().map(|s| (*s).to_owned()))
            .collect()
    }

    #[test]
    fn protocol_versions_as_mosquitto_names_them() {
        assert_eq!(parse_protocol_version("mqttv5"), Ok(ProtocolVersion::V5));
        assert_eq!(parse_protocol_version("311"), Ok(ProtocolVersion::V311));
        assert_eq!(parse_protocol_version("mqttv31"), Ok(ProtocolVersion::V31));
        assert!(parse_protocol_version("4").is_err());
    }

    #[test]
    fn properties_go_to_their_packets() {
        let parsed = PacketProperties::parse(
            &flags(&[
                &["publish", "user-property", "k", "v"],
                &["publish", "message-expiry-interval", "30"],
                &["connect", "session-expiry-interval", "60"],
                &["subscribe", "subscription-identifier", "7"],
            ]),
            ProtocolVersion::V5,
        )
        .expect("valid flags");
        assert_eq!(
            parsed.publish.user_properties,
            [(ByteString::from("k"), ByteString::from("v"))]
        );
        assert_eq!(parsed.publish.message_expiry_interval, Some(30));
        assert_eq!(parsed.connect.session_expiry_interval, Some(60));
        assert_eq!(parsed.subscribe.subscription_identifiers.len(), 1);
    }

    #[test]
    fn bad_flags_are_named() {
        let v5 = ProtocolVersion::V5;
        for (flag, expected) in [
            (
                &["publish", "message-expiry-interval", "soon"][..],
                "needs a number",
            ),
            (&["publish", "topic-alias", "3"], "not a property"),
            (&["auth", "user-property", "a", "b"], "not supported"),
            (&["publish", "user-property", "a"], "a name and a value"),
        ] {
            let error = PacketProperties::parse(&flags(&[flag]), v5).expect_err("refused");
            assert!(error.contains(expected), "{flag:?}: {error}");
        }
        let error = PacketProperties::parse(
            &flags(&[&["publish", "content-type", "text/plain"]]),
            ProtocolVersion::V311,
        )
        .expect_err("3.1.1 has no properties");
        assert!(error.contains("MQTT 5.0"), "{error}");
    }
}
