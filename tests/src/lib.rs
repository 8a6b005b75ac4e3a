//! Helpers for the end-to-end tests: a broker on 127.0.0.1:0 and a raw MQTT test client.
