"""Connection setup and teardown, discovery, unknown senders, IPv6, ClientId takeover."""
import socket

import mqttsn_packets as sn


def test_connect_connack(sensor, client_id):
    p = sensor.connect(client_id)
    assert p.return_code == sn.ACCEPTED
    assert not p.long_length


def test_connect_with_bad_protocol_id_is_not_accepted(sensor, client_id):
    # §5.3.8: ProtocolId is coded 0x01, all other values are reserved.
    sensor.send(sn.connect(client_id, 60, protocol_id=0x02))
    p = sensor.recv(3)
    if p is not None:
        assert p.type == sn.CONNACK and p.return_code != sn.ACCEPTED, p
    # No session was created: the address is still unknown to the gateway.
    sensor.pingreq()
    sensor.expect(sn.DISCONNECT, duration=None)


def test_pingreq_pingresp(sensor, client_id):
    sensor.connect(client_id)
    sensor.pingreq()
    sensor.expect(sn.PINGRESP)
    sensor.pingreq()
    sensor.expect(sn.PINGRESP)


def test_disconnect_is_answered_with_disconnect(sensor, client_id):
    sensor.connect(client_id)
    p = sensor.disconnect()
    assert p.duration is None  # §5.4.21: the gateway's DISCONNECT has no Duration
    # The session is closed: the address is unknown again.
    sensor.pingreq()
    sensor.expect(sn.DISCONNECT)


def test_searchgw_answered_with_gwinfo(gateway, sensor):
    sensor.send(sn.searchgw(radius=1))
    p = sensor.expect(sn.GWINFO)
    assert p.gw_id == gateway.gw_id
    assert p.gw_add == b""  # §5.4.3: GwAdd only present when sent by a client


def test_advertise_sent_periodically_to_advertise_to(gateway):
    first = gateway.wait_advertise(timeout=5)
    assert first is not None, "no ADVERTISE reached the advertise_to address"
    assert first.gw_id == gateway.gw_id
    assert first.duration == gateway.protocol["advertise_interval_s"]  # seconds until the next one
    second = gateway.wait_advertise(timeout=5)
    assert second is not None, "ADVERTISE was not repeated"
    assert second.gw_id == gateway.gw_id


def test_unknown_sender_gets_disconnect(gateway, sensors):
    # §6.12: a message the gateway cannot map to a client is answered with DISCONNECT.
    for i, raw in enumerate([sn.pingreq(),
                             sn.register(0, 1, "a/b"),
                             sn.publish(5, b"x", msg_id=3, qos=1),
                             sn.subscribe(4, "a/b", qos=0)]):
        s = sensors("stranger%d" % i)
        s.send(raw)
        s.expect(sn.DISCONNECT, duration=None)


def test_unknown_sender_can_then_connect(sensor, client_id):
    sensor.pingreq()
    sensor.expect(sn.DISCONNECT)
    sensor.connect(client_id)
    sensor.pingreq()
    sensor.expect(sn.PINGRESP)


def test_ipv6_sensor(gateway, sensors, observer, client_id):
    s = sensors("v6", family=socket.AF_INET6)
    s.connect(client_id)
    tid = s.register("v6/up")
    observer.subscribe("v6/#")
    s.publish(tid, b"over ipv6", qos=1)
    observer.wait_payload("v6/up", b"over ipv6")
    sub = s.subscribe("v6/down", qos=1)
    observer.publish("v6/down", b"to ipv6", qos=1)
    p = s.receive_publish()
    assert p.topic_id == sub.topic_id and p.data == b"to ipv6"


def test_duplicate_client_id_takeover(gateway, sensors, observer, client_id):
    old = sensors("old")
    new = sensors("new")
    old.connect(client_id)
    old.subscribe("takeover/t", qos=0)
    new.connect(client_id)  # same ClientId from another address: takes the session over
    sub = new.subscribe("takeover/t", qos=0)
    observer.publish("takeover/t", b"one", qos=1)
    p = new.receive_publish()
    assert p.topic_id == sub.topic_id and p.data == b"one"
    old.expect_nothing(1.0)
    # The old address has no session any more.
    old.pingreq()
    old.expect(sn.DISCONNECT)
    new.pingreq()
    new.expect(sn.PINGRESP)


def test_client_ids_match_exactly_not_by_prefix(gateway, sensors, observer):
    a = sensors("sensor1")
    b = sensors("sensor10")
    a.connect("sensor1")
    b.connect("sensor10")
    a.subscribe("exact/a", qos=0)
    b.subscribe("exact/b", qos=0)
    observer.publish("exact/a", b"for a", qos=1)
    observer.publish("exact/b", b"for b", qos=1)
    assert a.receive_publish().data == b"for a"
    assert b.receive_publish().data == b"for b"
    a.expect_nothing(0.5)
