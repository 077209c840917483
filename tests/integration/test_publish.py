"""Uplink: sensor PUBLISH at every QoS through every topic id type, retain, errors."""
import pytest

import mqttsn_packets as sn
from harness import PREDEFINED


def _topic(sensor, kind, name):
    """(topic_id for PUBLISH, TopicIdType, MQTT topic name the broker sees)."""
    if kind == "normal":
        return sensor.register(name), sn.TOPIC_NORMAL, name
    if kind == "predefined":
        return 1, sn.TOPIC_PREDEFINED, PREDEFINED[1]
    return "sh", sn.TOPIC_SHORT, "sh"


@pytest.mark.parametrize("retain", [False, True], ids=["noretain", "retain"])
@pytest.mark.parametrize("kind", ["normal", "predefined", "short"])
@pytest.mark.parametrize("qos", [0, 1, 2])
def test_uplink(sensor, observer, client_id, qos, kind, retain):
    observer.subscribe("#", qos=2)
    sensor.connect(client_id)
    tid, tt, mqtt_topic = _topic(sensor, kind, "up/%s/q%d" % (kind, qos))
    payload = ("%s qos %d" % (kind, qos)).encode()
    sensor.publish(tid, payload, qos=qos, retain=retain, topic_id_type=tt)
    m = observer.wait_payload(mqtt_topic, payload)
    assert m.qos == qos  # observer subscribed at 2: it gets the publisher's QoS
    # Retain is passed through: only a retained message reaches a subscriber that arrives later.
    late = observer.make()
    late.subscribe(mqtt_topic, qos=0)
    observer.publish(mqtt_topic, b"barrier", qos=1)
    late.wait_payload(mqtt_topic, b"barrier")
    retained = [x for x in late.on(mqtt_topic) if x.payload == payload]
    if retain:
        assert retained and retained[0].retain, late.messages
    else:
        assert not retained, late.messages


def test_qos1_puback_only_after_broker_has_it(sensor, observer, client_id):
    observer.subscribe("ack/#", qos=1)
    sensor.connect(client_id)
    tid = sensor.register("ack/one")
    sensor.publish(tid, b"acked", qos=1)
    # At PUBACK time the broker already routed it (the observer sees it promptly).
    observer.wait_payload("ack/one", b"acked", timeout=2)


def test_qos2_duplicate_publish_before_pubrel_not_forwarded_twice(sensor, observer, client_id):
    observer.subscribe("dup/#", qos=2)
    sensor.connect(client_id)
    tid = sensor.register("dup/q2")
    mid = 77
    sensor.send(sn.publish(tid, b"exactly once", mid, qos=2))
    sensor.expect(sn.PUBREC, timeout=10, msg_id=mid)
    # PUBREC "lost": the sensor retransmits with DUP set (§5.3.4), the gateway acknowledges again.
    sensor.send(sn.publish(tid, b"exactly once", mid, qos=2, dup=True))
    sensor.expect(sn.PUBREC, timeout=10, msg_id=mid)
    sensor.send(sn.pubrel(mid))
    sensor.expect(sn.PUBCOMP, timeout=10, msg_id=mid)
    observer.wait_payload("dup/q2", b"exactly once")
    # A QoS 2 barrier on the same topic through the same session: a duplicate forwarded before it
    # would reach the observer before it (same publisher, topic and QoS: ordered).
    sensor.publish(tid, b"barrier", qos=2)
    observer.wait_payload("dup/q2", b"barrier")
    got = [m.payload for m in observer.on("dup/q2")]
    assert got.count(b"exactly once") == 1, got


@pytest.mark.parametrize("qos", [1, 2])
def test_unknown_normal_topic_id_gets_puback_invalid_topic(sensor, observer, client_id, qos):
    observer.subscribe("#", qos=0)
    sensor.connect(client_id)
    sensor.register("known/topic")
    sensor.send(sn.publish(0x4242, b"nowhere", 9, qos=qos))
    p = sensor.expect(sn.PUBACK, msg_id=9, topic_id=0x4242)
    assert p.return_code == sn.REJ_INVALID_TOPIC_ID
    sensor.publish(1, b"barrier", qos=1, topic_id_type=sn.TOPIC_PREDEFINED)
    observer.wait_payload(PREDEFINED[1], b"barrier")
    assert not [m for m in observer.messages if m.payload == b"nowhere"], observer.messages


def test_unknown_predefined_topic_id_gets_puback_invalid_topic(sensor, observer, client_id):
    observer.subscribe("#", qos=0)
    sensor.connect(client_id)
    sensor.send(sn.publish(999, b"nowhere", 10, qos=1, topic_id_type=sn.TOPIC_PREDEFINED))
    p = sensor.expect(sn.PUBACK, msg_id=10, topic_id=999)
    assert p.return_code == sn.REJ_INVALID_TOPIC_ID
    sensor.publish(1, b"barrier", qos=1, topic_id_type=sn.TOPIC_PREDEFINED)
    observer.wait_payload(PREDEFINED[1], b"barrier")
    assert not [m for m in observer.messages if m.payload == b"nowhere"], observer.messages


def test_topic_ids_are_per_client(sensors, observer):
    # §7.3: one client's topic id must not publish to another client's topic.
    a, b = sensors("a"), sensors("b")
    a.connect("perclient-a")
    b.connect("perclient-b")
    observer.subscribe("#", qos=0)
    tid_a = a.register("perclient/a-only")
    b.send(sn.publish(tid_a, b"wrong client", 5, qos=1))
    p = b.recv(5)
    assert p is not None and p.type == sn.PUBACK, p
    if p.return_code == sn.ACCEPTED:
        # Only acceptable if b had registered a topic with the same id itself — it has not.
        raise AssertionError("gateway accepted a topic id the client never registered: %r" % p)
    a.publish(tid_a, b"barrier", qos=1)
    observer.wait_payload("perclient/a-only", b"barrier")
    assert not [m for m in observer.messages if m.payload == b"wrong client"]


@pytest.mark.parametrize("kind", ["predefined", "short"])
def test_qos_minus_one_without_connect(gateway, sensors, observer, kind):
    observer.subscribe("#", qos=2)  # so the QoS it was forwarded at shows
    gateway.wait_advertise(timeout=3)  # broker link is up (ADVERTISE only while reachable)
    s = sensors("qos-1")
    if kind == "predefined":
        s.send(sn.publish(2, b"fire and forget", qos=-1, topic_id_type=sn.TOPIC_PREDEFINED))
        topic = PREDEFINED[2]
    else:
        s.send(sn.publish("m1", b"fire and forget", qos=-1, topic_id_type=sn.TOPIC_SHORT))
        topic = "m1"
    m = observer.wait_payload(topic, b"fire and forget")
    assert m.qos == 0
    s.expect_nothing(0.5)  # QoS -1 is never answered (no DISCONNECT either)


def test_qos_minus_one_with_normal_topic_id_is_not_forwarded(gateway, sensors, observer):
    observer.subscribe("#", qos=0)
    gateway.wait_advertise(timeout=3)
    s = sensors("qos-1")
    s.send(sn.publish(1, b"normal ids need a session", qos=-1, topic_id_type=sn.TOPIC_NORMAL))
    s.send(sn.publish(1, b"predefined ok", qos=-1, topic_id_type=sn.TOPIC_PREDEFINED))
    observer.wait_payload(PREDEFINED[1], b"predefined ok")
    assert not [m for m in observer.messages if m.payload == b"normal ids need a session"]


def test_long_length_uplink(sensor, observer, client_id):
    observer.subscribe("big/#", qos=1)
    sensor.connect(client_id)
    tid = sensor.register("big/up")
    payload = bytes(range(256)) * 2 + b"end"  # 515 octets: needs the 3-octet Length (§5.2.1)
    raw = sn.publish(tid, payload, 21, qos=1)
    assert raw[0] == 0x01
    sensor.send(raw)
    sensor.expect(sn.PUBACK, msg_id=21, return_code=sn.ACCEPTED)
    m = observer.wait_payload("big/up", payload)
    assert len(m.payload) == 515


def test_long_length_form_for_a_short_message_is_accepted(sensor, observer, client_id):
    # "Messages with lengths smaller than 256 octets may use the shorter 1-octet format": may, not must.
    observer.subscribe("lf/#", qos=1)
    sensor.send(sn.connect(client_id, 60, long_length=True))
    sensor.expect(sn.CONNACK, return_code=sn.ACCEPTED)
    mid = sensor.next_msg_id()
    sensor.send(sn.register(0, mid, "lf/small", long_length=True))
    tid = sensor.expect(sn.REGACK, msg_id=mid, return_code=sn.ACCEPTED).topic_id
    sensor.publish(tid, b"small in long form", qos=1, long_length=True)
    observer.wait_payload("lf/small", b"small in long form")


@pytest.mark.parametrize("qos", [1, 2])
def test_own_publish_acknowledged_before_its_echo(sensor, client_id, qos):
    """A sensor subscribed to T publishing on T: the very next packet it reads is the PUBACK (PUBREC).

    mosquitto sends the echo to the sensor's subscription before acknowledging the PUBLISH; clients
    written from the Paho MQTTSNPacket samples read exactly one packet after a PUBLISH.
    """
    topic = "echo/%s" % client_id
    sensor.connect(client_id)
    sub = sensor.subscribe(topic, qos=1)
    for i in range(5):
        mid = sensor.next_msg_id()
        sensor.send(sn.publish(sub.topic_id, b"m%d" % i, mid, qos))
        first = sensor.recv(5)
        assert first is not None, "nothing after PUBLISH %d\n%s" % (i, sensor.history())
        want = sn.PUBACK if qos == 1 else sn.PUBREC
        assert first.type == want and first.msg_id == mid, \
            "first packet after PUBLISH %d is %r, not its %s\n%s" % (
                i, first, sn.TYPE_NAMES[want], sensor.history())
        if qos == 2:
            sensor.send(sn.pubrel(mid))
        # The rest (PUBCOMP and the echo) in the order they come.
        want_rest = {sn.PUBLISH} | ({sn.PUBCOMP} if qos == 2 else set())
        while want_rest:
            p = sensor.recv(5)
            assert p is not None and p.type in want_rest, "%r\n%s" % (p, sensor.history())
            want_rest.discard(p.type)
            if p.type == sn.PUBLISH:
                assert p.data == b"m%d" % i, p
                sensor.ack(p)
