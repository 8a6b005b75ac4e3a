#!/usr/bin/env python3
"""Interoperability check of an MQTT 3.1.1 broker with the Eclipse paho-mqtt Python client.

Usage: paho_check.py PORT [HOST]

Works with paho-mqtt 1.6 and 2.x. Checks, against the broker at HOST:PORT (default 127.0.0.1):
  * QoS: a client subscribes to three topics at QoS 0, 1 and 2 (the SUBACK must grant exactly
    those) and publishes to itself at QoS 0, 1 and 2 on each: every message arrives exactly once,
    at QoS min(publish QoS, subscription QoS), with the retain flag clear;
  * retained messages: a retained message reaches a client that subscribes later, with the retain
    flag set; an empty retained message clears it;
  * will: a client whose socket is reset (no DISCONNECT) has its will published; a client that
    disconnects cleanly does not.
Prints "OK" and exits 0 on success; prints "FAIL: <what>" and exits 1 otherwise.
"""

import queue
import signal
import socket
import struct
import sys
import threading
import traceback
import uuid

import paho.mqtt.client as mqtt

# How long any single expected event may take.
TIMEOUT = 10.0
# How long to wait to be confident that something does NOT happen.
QUIET = 1.0


class CheckFailed(Exception):
    """A check of the broker's behaviour failed."""


def paho_version():
    try:
        import paho.mqtt as pkg

        return getattr(pkg, "__version__", "unknown")
    except Exception:  # pragma: no cover - diagnostics only
        return "unknown"


def new_client(client_id):
    """A paho client speaking MQTT 3.1.1, with the 2.x callback API when it exists."""
    kwargs = {"client_id": client_id, "clean_session": True, "protocol": mqtt.MQTTv311}
    api = getattr(mqtt, "CallbackAPIVersion", None)
    if api is not None:  # paho-mqtt >= 2.0
        return mqtt.Client(api.VERSION2, **kwargs)
    return mqtt.Client(**kwargs)  # paho-mqtt 1.x


def code_of(rc):
    """An int from a 1.x return code (int) or a 2.x ReasonCode."""
    return getattr(rc, "value", rc)


class Peer:
    """A connected paho client whose events are collected for the checks."""

    def __init__(self, name, host, port, will=None):
        self.name = name
        self.client = new_client("paho-%s-%s" % (name, uuid.uuid4().hex[:8]))
        self.messages = queue.Queue()
        self.connected = threading.Event()
        self.connect_rc = None
        self.subacks = {}
        self.suback_cond = threading.Condition()
        # Positional arguments common to both callback APIs (1.x and 2.x VERSION2):
        #   on_connect(client, userdata, flags, rc[, properties])
        #   on_subscribe(client, userdata, mid, granted_qos | reason_codes[, properties])
        #   on_message(client, userdata, message)
        self.client.on_connect = self._on_connect
        self.client.on_subscribe = self._on_subscribe
        self.client.on_message = self._on_message
        if will is not None:
            topic, payload, qos, retain = will
            self.client.will_set(topic, payload, qos=qos, retain=retain)
        self.client.connect(host, port, keepalive=30)
        self.client.loop_start()
        if not self.connected.wait(TIMEOUT):
            raise CheckFailed("%s: no CONNACK within %.0f s" % (name, TIMEOUT))
        if self.connect_rc != 0:
            raise CheckFailed("%s: connection refused, return code %r" % (name, self.connect_rc))

    def _on_connect(self, client, userdata, flags, rc, *rest):
        self.connect_rc = code_of(rc)
        self.connected.set()

    def _on_subscribe(self, client, userdata, mid, granted, *rest):
        with self.suback_cond:
            self.subacks[mid] = [code_of(g) for g in granted]
            self.suback_cond.notify_all()

    def _on_message(self, client, userdata, msg):
        self.messages.put((msg.topic, bytes(msg.payload), msg.qos, bool(msg.retain)))

    def subscribe(self, filters):
        """Subscribes to [(filter, qos)] and returns the granted QoS list of the SUBACK."""
        result, mid = self.client.subscribe(filters)
        if result != mqtt.MQTT_ERR_SUCCESS:
            raise CheckFailed("%s: SUBSCRIBE could not be sent (%r)" % (self.name, result))
        with self.suback_cond:
            if not self.suback_cond.wait_for(lambda: mid in self.subacks, TIMEOUT):
                raise CheckFailed("%s: no SUBACK for %r within %.0f s" % (self.name, filters, TIMEOUT))
            return self.subacks[mid]

    def publish(self, topic, payload, qos, retain=False):
        """Publishes and waits until its QoS flow is complete (PUBACK / PUBCOMP)."""
        info = self.client.publish(topic, payload, qos=qos, retain=retain)
        if info.rc != mqtt.MQTT_ERR_SUCCESS:
            raise CheckFailed("%s: PUBLISH to %s could not be sent (%r)" % (self.name, topic, info.rc))
        info.wait_for_publish(TIMEOUT)
        if not info.is_published():
            raise CheckFailed(
                "%s: QoS %d PUBLISH to %s not acknowledged within %.0f s" % (self.name, qos, topic, TIMEOUT)
            )

    def expect(self, count, what):
        """The next `count` messages; fails if they do not arrive in time."""
        got = []
        for _ in range(count):
            try:
                got.append(self.messages.get(timeout=TIMEOUT))
            except queue.Empty:
                raise CheckFailed(
                    "%s: expected %d message(s) (%s), got only %d within %.0f s: %r"
                    % (self.name, count, what, len(got), TIMEOUT, got)
                )
        return got

    def expect_none(self, what):
        """Asserts no message arrives within QUIET seconds."""
        try:
            msg = self.messages.get(timeout=QUIET)
        except queue.Empty:
            return
        raise CheckFailed("%s: expected no message (%s), got %r" % (self.name, what, msg))

    def disconnect(self):
        """Sends DISCONNECT and stops the network thread."""
        self.client.disconnect()
        self.client.loop_stop()

    def reset_socket(self):
        """Drops the connection without DISCONNECT: stops the network thread, then resets the TCP
        connection (SO_LINGER 0 makes close() send RST), as a crashed client would."""
        self.client.loop_stop()
        sock = self.client.socket()
        if sock is None:
            raise CheckFailed("%s: has no socket to reset" % self.name)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        sock.close()


def check_qos(host, port, prefix):
    peer = Peer("qos", host, port)
    try:
        filters = [("%s/sub%d" % (prefix, q), q) for q in (0, 1, 2)]
        granted = peer.subscribe(filters)
        if granted != [0, 1, 2]:
            raise CheckFailed("SUBACK for QoS 0/1/2 subscriptions granted %r, expected [0, 1, 2]" % granted)

        expected = {}
        for sub_qos in (0, 1, 2):
            for pub_qos in (0, 1, 2):
                topic = "%s/sub%d" % (prefix, sub_qos)
                payload = ("published at QoS %d to a QoS %d subscription" % (pub_qos, sub_qos)).encode()
                peer.publish(topic, payload, pub_qos)
                expected[(topic, payload)] = min(pub_qos, sub_qos)

        got = peer.expect(len(expected), "one per QoS pair")
        peer.expect_none("duplicates after the %d expected messages" % len(expected))
        seen = set()
        for topic, payload, qos, retain in got:
            key = (topic, payload)
            if key not in expected:
                raise CheckFailed("unexpected message %r on %s" % (payload, topic))
            if key in seen:
                raise CheckFailed("message %r on %s delivered twice" % (payload, topic))
            seen.add(key)
            if qos != expected[key]:
                raise CheckFailed(
                    "message %r on %s delivered at QoS %d, expected QoS %d" % (payload, topic, qos, expected[key])
                )
            if retain:
                raise CheckFailed(
                    "message %r on %s delivered to an established subscription with the retain flag set"
                    % (payload, topic)
                )
    finally:
        peer.disconnect()


def check_retained(host, port, prefix):
    topic = "%s/retained" % prefix
    publisher = Peer("retain-pub", host, port)
    try:
        publisher.publish(topic, b"kept for later", 1, retain=True)

        late = Peer("retain-late", host, port)
        try:
            granted = late.subscribe([(topic, 1)])
            if granted != [1]:
                raise CheckFailed("SUBACK for a QoS 1 subscription granted %r" % granted)
            [(got_topic, payload, qos, retain)] = late.expect(1, "the retained message")
            if (got_topic, payload) != (topic, b"kept for later"):
                raise CheckFailed("expected the retained message, got %r on %s" % (payload, got_topic))
            if not retain:
                raise CheckFailed("retained message delivered on SUBSCRIBE without the retain flag")
            if qos != 1:
                raise CheckFailed("retained QoS 1 message delivered at QoS %d to a QoS 1 subscription" % qos)
        finally:
            late.disconnect()

        publisher.publish(topic, b"", 1, retain=True)
        after = Peer("retain-cleared", host, port)
        try:
            after.subscribe([(topic, 1)])
            after.expect_none("the retained message was cleared by an empty retained PUBLISH")
        finally:
            after.disconnect()
    finally:
        publisher.disconnect()


def check_will(host, port, prefix):
    topic = "%s/will" % prefix
    watcher = Peer("will-watcher", host, port)
    try:
        granted = watcher.subscribe([(topic, 2)])
        if granted != [2]:
            raise CheckFailed("SUBACK for a QoS 2 subscription granted %r" % granted)

        # A clean DISCONNECT discards the will; a connection lost without DISCONNECT publishes it.
        # The watcher must get the crashed client's will and nothing else (a wrongly published
        # will of the polite client arrives first or during the final quiet period).
        polite = Peer("will-polite", host, port, will=(topic, b"polite client vanished", 1, False))
        polite.disconnect()
        crashed = Peer("will-crashed", host, port, will=(topic, b"crashed client vanished", 1, False))
        crashed.reset_socket()
        [(got_topic, payload, qos, retain)] = watcher.expect(1, "the will of a client whose socket was reset")
        if payload == b"polite client vanished":
            raise CheckFailed("the will of a client that sent DISCONNECT was published")
        if (got_topic, payload) != (topic, b"crashed client vanished"):
            raise CheckFailed("expected the crashed client's will, got %r on %s" % (payload, got_topic))
        if qos != 1:
            raise CheckFailed("QoS 1 will delivered at QoS %d to a QoS 2 subscription" % qos)
        if retain:
            raise CheckFailed("non-retained will delivered with the retain flag set")
        watcher.expect_none("a second copy of the will, or the will of the client that sent DISCONNECT")
    finally:
        watcher.disconnect()


def main(argv):
    if len(argv) not in (2, 3):
        print("usage: %s PORT [HOST]" % argv[0], file=sys.stderr)
        return 2
    port = int(argv[1])
    host = argv[2] if len(argv) == 3 else "127.0.0.1"
    # A watchdog in case something blocks outside the bounded waits.
    if hasattr(signal, "alarm"):
        signal.alarm(60)
    print("paho-mqtt %s, broker %s:%d" % (paho_version(), host, port), file=sys.stderr)
    prefix = "paho/%s" % uuid.uuid4().hex[:12]
    checks = [("qos", check_qos), ("retained", check_retained), ("will", check_will)]
    for name, check in checks:
        try:
            check(host, port, prefix)
        except CheckFailed as e:
            print("FAIL: %s check: %s" % (name, e))
            return 1
        except Exception as e:
            print("FAIL: %s check: unexpected error %r" % (name, e))
            traceback.print_exc()
            return 1
    print("OK")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
