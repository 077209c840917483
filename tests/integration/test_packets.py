"""Self-test of the harness's own MQTT-SN packets against hand-typed spec bytes and scapy's dissector.

Needs no gateway: it makes sure a failing integration test is never the harness's encoding mistake.
"""
import pytest

import mqttsn_packets as sn

scapy_mqttsn = pytest.importorskip("scapy.contrib.mqttsn")


def test_golden_bytes_from_the_spec_tables():
    # Table 9 CONNECT: Length, MsgType, Flags(Will|Clean), ProtocolId, Duration(30), ClientId.
    assert sn.connect("ab", 30, clean=True, will=True) == bytes([8, 0x04, 0x0C, 0x01, 0x00, 0x1E]) + b"ab"
    # Table 16 PUBLISH QoS 2, retain, predefined id 0x0102, MsgId 0x0304.
    assert sn.publish(0x0102, b"z", 0x0304, qos=2, retain=True, topic_id_type=1) == \
        bytes([8, 0x0C, 0b01010001, 1, 2, 3, 4]) + b"z"
    # QoS -1 (0b11) with a short topic name "ab".
    assert sn.publish("ab", b"", qos=-1, topic_id_type=2) == bytes([7, 0x0C, 0b01100010]) + b"ab\x00\x00"
    # §5.2.1 3-octet Length: 0x01, then the total length MSB first.
    raw = sn.publish(1, b"x" * 300, 1, qos=1)
    assert raw[:4] == bytes([0x01, 0x01, 0x35, 0x0C]) and len(raw) == 0x0135
    # Table 28 encapsulation: Length covers only up to the Wireless Node Id.
    assert sn.encapsulate(b"\x01\x02", sn.pingreq()) == bytes([5, 0xFE, 0, 1, 2, 2, 0x16])
    assert sn.disconnect() == bytes([2, 0x18]) and sn.disconnect(600) == bytes([4, 0x18, 2, 0x58])
    assert sn.willtopic(None) == bytes([2, 0x07]) and sn.willtopicupd(None) == bytes([2, 0x1A])


@pytest.mark.parametrize("raw", [
    sn.connect("client-1", 60, clean=True, will=True),
    sn.register(0, 9, "a/b/c"),
    sn.regack(5, 9, 2),
    sn.publish(5, b"data", 7, qos=1, retain=True),
    sn.publish(5, b"y" * 400, 7, qos=2, dup=True),
    sn.puback(5, 7, 2),
    sn.subscribe(3, "a/+/c", qos=2),
    sn.subscribe(3, 7, qos=1, topic_id_type=sn.TOPIC_PREDEFINED),
    sn.unsubscribe(4, "a/#"),
    sn.pingreq("sleepy"),
    sn.disconnect(30),
    sn.willtopic("will/t", qos=1, retain=True),
    sn.willmsg(b"bye"),
    sn.searchgw(1),
    sn.advertise(7, 900),
])
def test_scapy_agrees(raw):
    theirs = scapy_mqttsn.MQTTSN(raw)
    assert theirs.len == len(raw)
    assert theirs.type == raw[1 if raw[0] != 1 else 3]
    ours = sn.parse(raw)
    layer = theirs.payload
    for ours_name, theirs_name in [("msg_id", "mid"), ("topic_id", "tid"), ("duration", "duration"),
                                   ("retain", "retain"), ("dup", "dup"), ("will", "will"),
                                   ("clean", "cleansess"), ("topic_id_type", "tid_type")]:
        if ours_name in ours.fields and layer.fields.get(theirs_name) is not None:
            assert int(getattr(ours, ours_name)) == int(layer.fields[theirs_name]), (ours_name, ours, theirs)
    if "qos" in ours.fields and ours.qos >= 0 and "qos" in layer.fields:
        assert ours.qos == layer.qos


def test_parser_rejects_length_mismatch_and_reserved_types():
    for bad in [b"", b"\x02", b"\x03\x16", b"\x02\x16\x00", b"\x02\x03", b"\x02\xff", b"\x01\x00\x05\x16"]:
        with pytest.raises(sn.MalformedPacket):
            sn.parse(bad)


def test_parser_round_trip_encapsulated():
    p = sn.parse(sn.encapsulate(b"\x09", sn.publish(3, b"x" * 260, 2, qos=1)))
    assert p.type == sn.ENCAPSULATED and p.node_id == b"\x09"
    assert p.inner.type == sn.PUBLISH and p.inner.long_length and p.inner.data == b"x" * 260
