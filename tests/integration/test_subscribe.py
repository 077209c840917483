"""Downlink: SUBSCRIBE/UNSUBSCRIBE, gateway PUBLISH at every QoS, wildcards with REGISTER."""
import pytest

import mqttsn_packets as sn
from harness import PREDEFINED


@pytest.mark.parametrize("qos", [0, 1, 2])
def test_downlink_by_topic_name(sensor, observer, client_id, qos):
    sensor.connect(client_id)
    sub = sensor.subscribe("down/name", qos=qos)
    assert sub.return_code == sn.ACCEPTED and sub.qos == qos
    assert sub.topic_id not in (0x0000, 0xFFFF)
    observer.publish("down/name", b"hello q%d" % qos, qos=qos)
    p = sensor.recv(5)
    assert p is not None and p.type == sn.PUBLISH, (p, sensor.history())
    assert (p.topic_id, p.topic_id_type, p.qos, p.data) == (sub.topic_id, sn.TOPIC_NORMAL, qos,
                                                            b"hello q%d" % qos)
    assert not p.dup
    assert (p.msg_id != 0) == (qos > 0)  # §5.4.12: MsgId coded 0x0000 for QoS 0
    if qos == 1:
        sensor.send(sn.puback(p.topic_id, p.msg_id))
    elif qos == 2:
        sensor.send(sn.pubrec(p.msg_id))
        sensor.expect(sn.PUBREL, msg_id=p.msg_id)
        sensor.send(sn.pubcomp(p.msg_id))
    sensor.expect_nothing(1.5)  # acknowledged: no retransmission (Tretry is 0.7 s here)


@pytest.mark.parametrize("qos", [0, 1, 2])
def test_downlink_short_topic(sensor, observer, client_id, qos):
    sensor.connect(client_id)
    sensor.subscribe("dn", qos=qos, topic_id_type=sn.TOPIC_SHORT)
    observer.publish("dn", b"short", qos=qos)
    p = sensor.receive_publish()
    assert (p.topic_id, p.topic_id_type, p.qos, p.data) == (sn.short_topic_id("dn"), sn.TOPIC_SHORT, qos,
                                                            b"short")


@pytest.mark.parametrize("qos", [0, 1, 2])
def test_downlink_predefined_topic(sensor, observer, client_id, qos):
    sensor.connect(client_id)
    sub = sensor.subscribe(2, qos=qos, topic_id_type=sn.TOPIC_PREDEFINED)
    assert sub.return_code == sn.ACCEPTED
    observer.publish(PREDEFINED[2], b"predefined", qos=qos)
    p = sensor.receive_publish()
    assert (p.topic_id, p.topic_id_type, p.qos, p.data) == (2, sn.TOPIC_PREDEFINED, qos, b"predefined")


def test_subscribe_unknown_predefined_id_rejected(sensor, client_id):
    sensor.connect(client_id)
    sub = sensor.subscribe(999, qos=0, topic_id_type=sn.TOPIC_PREDEFINED, expect_rc=None)
    assert sub.return_code == sn.REJ_INVALID_TOPIC_ID


def test_downlink_qos_is_capped_by_granted_qos(sensor, observer, client_id):
    sensor.connect(client_id)
    sub = sensor.subscribe("cap/t", qos=0)
    observer.publish("cap/t", b"sent at 2", qos=2)
    p = sensor.receive_publish()
    assert p.topic_id == sub.topic_id and p.qos == 0 and p.data == b"sent at 2"


def test_wildcard_subscription_registers_before_publish(sensor, observer, client_id):
    sensor.connect(client_id)
    sub = sensor.subscribe("wc/+/temp", qos=0)
    assert sub.return_code == sn.ACCEPTED
    assert sub.topic_id == 0x0000  # §6.9: wildcard SUBACK carries topic id 0
    observer.publish("wc/kitchen/temp", b"21.5", qos=0)
    reg = sensor.expect(sn.REGISTER)
    assert reg.topic_name == "wc/kitchen/temp" and reg.topic_id not in (0, 0xFFFF)
    sensor.expect_nothing(0.3)  # §6.10: the gateway waits for REGACK before the PUBLISH
    sensor.send(sn.regack(reg.topic_id, reg.msg_id, sn.ACCEPTED))
    p = sensor.expect(sn.PUBLISH)  # the QoS 0 message that triggered REGISTER is not lost
    assert (p.topic_id, p.topic_id_type, p.data) == (reg.topic_id, sn.TOPIC_NORMAL, b"21.5")
    # Same topic again: already registered, straight PUBLISH.
    observer.publish("wc/kitchen/temp", b"22.0", qos=0)
    p = sensor.expect(sn.PUBLISH)
    assert (p.topic_id, p.data) == (reg.topic_id, b"22.0")
    # A second matching topic gets its own id.
    observer.publish("wc/hall/temp", b"19.0", qos=0)
    regs = {}
    p = sensor.receive_publish(registrations=regs)
    assert list(regs.values()) == ["wc/hall/temp"], regs
    hall_id = list(regs)[0]
    assert hall_id != reg.topic_id and p.topic_id == hall_id and p.data == b"19.0"
    # Non-matching topics are not delivered.
    observer.publish("wc/hall/humidity", b"40", qos=0)
    sensor.expect_nothing(0.5)


def test_wildcard_register_rejected_means_topic_not_sent(sensor, observer, client_id):
    sensor.connect(client_id)
    sensor.subscribe("rj/#", qos=1)
    observer.publish("rj/no", b"unwanted", qos=1)
    reg = sensor.expect(sn.REGISTER, topic_name="rj/no")
    sensor.send(sn.regack(reg.topic_id, reg.msg_id, sn.REJ_NOT_SUPPORTED))
    observer.publish("rj/no", b"unwanted again", qos=1)
    observer.publish("rj/yes", b"wanted", qos=1)
    regs = {}
    p = sensor.receive_publish(registrations=regs)
    assert list(regs.values()) == ["rj/yes"] and p.data == b"wanted", (regs, sensor.history())
    sensor.expect_nothing(0.5)


def test_unsubscribe_stops_delivery(sensor, observer, client_id):
    sensor.connect(client_id)
    sub = sensor.subscribe("uns/a", qos=1)
    barrier = sensor.subscribe("uns/barrier", qos=1)
    observer.publish("uns/a", b"before", qos=1)
    assert sensor.receive_publish().data == b"before"
    sensor.unsubscribe("uns/a")
    observer.publish("uns/a", b"after", qos=1)
    observer.publish("uns/barrier", b"barrier", qos=1)
    p = sensor.receive_publish()
    assert (p.topic_id, p.data) == (barrier.topic_id, b"barrier"), "still delivered after UNSUBSCRIBE"
    assert sub.topic_id != barrier.topic_id
    sensor.expect_nothing(0.5)


@pytest.mark.parametrize("kind", ["short", "predefined", "wildcard"])
def test_unsubscribe_other_topic_types(sensor, observer, client_id, kind):
    sensor.connect(client_id)
    topic, tt, mqtt_topic = {"short": ("us", sn.TOPIC_SHORT, "us"),
                             "predefined": (1, sn.TOPIC_PREDEFINED, PREDEFINED[1]),
                             "wildcard": ("uw/#", sn.TOPIC_NORMAL, "uw/x")}[kind]
    sensor.subscribe(topic, qos=0, topic_id_type=tt)
    barrier = sensor.subscribe("uns/barrier", qos=0)
    observer.publish(mqtt_topic, b"before", qos=0)
    assert sensor.receive_publish().data == b"before"
    sensor.unsubscribe(topic, topic_id_type=tt)
    observer.publish(mqtt_topic, b"after", qos=0)
    observer.publish("uns/barrier", b"barrier", qos=0)
    p = sensor.receive_publish()
    assert (p.topic_id, p.data) == (barrier.topic_id, b"barrier"), "still delivered after UNSUBSCRIBE"


def test_long_length_downlink(sensor, observer, client_id):
    sensor.connect(client_id)
    sub = sensor.subscribe("big/down", qos=1)
    payload = b"D" * 300 + b"end"
    observer.publish("big/down", payload, qos=1)
    p = sensor.expect(sn.PUBLISH)
    assert p.long_length and p.raw[0] == 0x01  # > 255 octets: 3-octet Length (§5.2.1)
    assert p.topic_id == sub.topic_id and p.data == payload
    sensor.send(sn.puback(p.topic_id, p.msg_id))
    # Short messages still use the 1-octet form.
    observer.publish("big/down", b"small", qos=1)
    p = sensor.receive_publish()
    assert not p.long_length and p.data == b"small"


def test_long_topic_name_register_uses_long_length(sensor, observer, client_id):
    sensor.connect(client_id)
    sensor.subscribe("lt/#", qos=0)
    name = "lt/" + "n" * 300
    observer.publish(name, b"x", qos=0)
    reg = sensor.expect(sn.REGISTER)
    assert reg.long_length and reg.topic_name == name
    sensor.send(sn.regack(reg.topic_id, reg.msg_id))
    assert sensor.expect(sn.PUBLISH).topic_id == reg.topic_id


@pytest.mark.parametrize("qos", [0, 1, 2])
def test_downlink_burst_arrives_complete_and_in_order(sensor, observer, client_id, qos):
    sensor.connect(client_id)
    sensor.subscribe("burst/t", qos=qos)
    sent = [b"msg %02d" % i for i in range(20)]
    for payload in sent:
        observer.publish("burst/t", payload, qos=qos)
    got = [sensor.receive_publish().data for _ in sent]
    assert got == sent
    sensor.expect_nothing(1.0)  # and no duplicates or retransmissions after the acks
