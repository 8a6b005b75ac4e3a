#!/usr/bin/env python3
"""MQTT 5.0 interoperability check of a broker with the Eclipse paho-mqtt Python client (2.x).

Usage: paho_v5_check.py PORT [HOST]

Checks, against the broker at HOST:PORT (default 127.0.0.1):
  * a v5 client with an empty client id is accepted and told its Assigned Client Identifier;
  * request/response between two v5 clients: a request carries user properties (order and
    duplicates kept), content type, payload format, response topic and correlation data to the
    responder, which answers on the response topic with the correlation data, back to the
    requester; a 3.1.1 client subscribed to the request topic gets the request without them;
  * a SUBACK to a v5 client grants the QoS asked for, as reason codes.
Prints "OK" and exits 0 on success; prints "FAIL: <what>" and exits 1 otherwise.
"""

import queue
import sys
import traceback

import paho.mqtt.client as mqtt
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

TIMEOUT = 10.0


class CheckFailed(Exception):
    """A check of the broker's behaviour failed."""


class Client:
    """A paho client with its events in queues."""

    def __init__(self, host, port, client_id, protocol=mqtt.MQTTv5):
        self.messages = queue.Queue()
        self.subacks = queue.Queue()
        self.connacks = queue.Queue()
        self.client = mqtt.Client(
            mqtt.CallbackAPIVersion.VERSION2, client_id=client_id, protocol=protocol
        )
        self.client.on_connect = lambda c, u, flags, rc, props: self.connacks.put((rc, props))
        self.client.on_message = lambda c, u, msg: self.messages.put(msg)
        self.client.on_subscribe = lambda c, u, mid, codes, props: self.subacks.put(codes)
        self.client.connect(host, port, keepalive=30)
        self.client.loop_start()
        rc, props = get(self.connacks, "CONNACK for %r" % client_id)
        if getattr(rc, "value", rc) != 0:
            raise CheckFailed("connection of %r refused: %s" % (client_id, rc))
        self.connack_properties = props

    def subscribe(self, topics):
        self.client.subscribe(topics)
        return get(self.subacks, "SUBACK")

    def stop(self):
        self.client.disconnect()
        self.client.loop_stop()


def get(q, what):
    try:
        return q.get(timeout=TIMEOUT)
    except queue.Empty:
        raise CheckFailed("no %s within %ss" % (what, TIMEOUT))


def check(host, port):
    # An empty client id: the broker assigns one.
    anonymous = Client(host, port, "")
    assigned = getattr(anonymous.connack_properties, "AssignedClientIdentifier", None)
    if not assigned:
        raise CheckFailed("no Assigned Client Identifier in CONNACK")
    anonymous.stop()

    responder = Client(host, port, "paho-v5-responder")
    codes = responder.subscribe([("req/+", 1), ("any/#", 2)])
    values = [getattr(c, "value", c) for c in codes]
    if values != [1, 2]:
        raise CheckFailed("SUBACK reason codes %r, expected [1, 2]" % values)
    old = Client(host, port, "paho-311", protocol=mqtt.MQTTv311)
    old.subscribe([("req/+", 1)])
    requester = Client(host, port, "paho-v5-requester")
    requester.subscribe([("resp/paho", 1)])

    props = Properties(PacketTypes.PUBLISH)
    props.UserProperty = [("k", "v1"), ("k", "v2"), ("other", "x")]
    props.ContentType = "text/plain"
    props.PayloadFormatIndicator = 1
    props.ResponseTopic = "resp/paho"
    props.CorrelationData = b"\x00\x01corr"
    requester.client.publish("req/1", b"question", qos=1, properties=props).wait_for_publish(TIMEOUT)

    request = get(responder.messages, "the request")
    got = request.properties
    user = list(getattr(got, "UserProperty", []))
    if user != [("k", "v1"), ("k", "v2"), ("other", "x")]:
        raise CheckFailed("user properties %r" % user)
    if getattr(got, "ContentType", None) != "text/plain":
        raise CheckFailed("content type %r" % getattr(got, "ContentType", None))
    if getattr(got, "PayloadFormatIndicator", None) != 1:
        raise CheckFailed("payload format indicator missing")
    if getattr(got, "ResponseTopic", None) != "resp/paho":
        raise CheckFailed("response topic %r" % getattr(got, "ResponseTopic", None))
    correlation = getattr(got, "CorrelationData", None)
    if correlation != b"\x00\x01corr":
        raise CheckFailed("correlation data %r" % correlation)

    reply = Properties(PacketTypes.PUBLISH)
    reply.CorrelationData = correlation
    responder.client.publish(got.ResponseTopic, b"answer", qos=1, properties=reply).wait_for_publish(
        TIMEOUT
    )
    response = get(requester.messages, "the response")
    if response.payload != b"answer":
        raise CheckFailed("response payload %r" % response.payload)
    if getattr(response.properties, "CorrelationData", None) != b"\x00\x01corr":
        raise CheckFailed("the response lost its correlation data")

    plain = get(old.messages, "the request at the 3.1.1 client")
    if plain.payload != b"question":
        raise CheckFailed("3.1.1 payload %r" % plain.payload)

    for c in (requester, responder, old):
        c.stop()


def main():
    port = int(sys.argv[1])
    host = sys.argv[2] if len(sys.argv) > 2 else "127.0.0.1"
    try:
        check(host, port)
    except CheckFailed as e:
        print("FAIL: %s" % e)
        return 1
    except Exception:  # pragma: no cover - diagnostics
        traceback.print_exc()
        print("FAIL: exception")
        return 1
    print("OK")
    return 0


if __name__ == "__main__":
    sys.exit(main())
