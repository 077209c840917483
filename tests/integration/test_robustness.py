"""Malformed datagrams are dropped; the sender's session and everyone else keep working."""
import random
import struct

import mqttsn_packets as sn
from harness import Forwarder, Sensor


def clearly_malformed(topic_id):
    """Datagrams that no reading of §5 makes valid, each with one thing wrong."""
    good = [sn.publish(topic_id, b"payload!", 3, qos=1), sn.register(0, 4, "a/topic"),
            sn.subscribe(5, "a/topic", qos=1), sn.connect("someone", 60), sn.puback(topic_id, 3),
            sn.publish(topic_id, b"L" * 300, 6, qos=1)]
    out = [b"", b"\x00", b"\x02", b"\x01", b"\x01\x00", b"\x01\x00\x04"]
    for g in good:
        out += [g[:n] for n in range(2, len(g)) if g[0] != 0x01 or n >= 4]  # truncations
        if g[0] != 0x01:
            out.append(bytes([g[0] + 1]) + g[1:])      # Length larger than the datagram
            out.append(bytes([g[0] - 1]) + g[1:])      # Length smaller than the datagram
            out.append(bytes([0]) + g[1:])             # Length 0
        else:
            out.append(g[:1] + struct.pack(">H", len(g) + 5) + g[3:])
            out.append(g[:1] + struct.pack(">H", 3) + g[3:])  # 3-octet form shorter than its header
    for t in (0x03, 0x11, 0x19, 0x1E, 0x42, 0xFD, 0xFF):  # reserved MsgTypes, well framed
        out += [bytes([2, t]), bytes([4, t, 0, 0])]
    out += [bytes([3, sn.DISCONNECT, 0]),                 # DISCONNECT with a 1-octet Duration
            bytes([3, sn.PUBACK, 0]),                      # PUBACK without its fields
            bytes([2, 0xFE]),                              # encapsulation without Ctrl/node id
            bytes([9, 0xFE, 0, 1]) + sn.pingreq(),         # encapsulation Length past the datagram
            sn.encapsulate(b"\x01", b"\x07\x0c\x00"),      # encapsulated truncated PUBLISH
            sn.encapsulate(b"\x01", b"")]                  # encapsulation of nothing
    return out


def test_malformed_burst_then_everyone_still_works(gateway, sensors, observer):
    victim = sensors("victim")
    victim.connect("robust-victim")
    tid = victim.register("robust/up")
    sub = victim.subscribe("robust/down", qos=1)
    observer.subscribe("robust/#", qos=1)

    # From the connected sensor's own address: dropped, no reply, session unaffected.
    bad = clearly_malformed(tid)
    for raw in bad:
        victim.link.send(raw)
    victim.expect_nothing(1.0)

    # From many other addresses: random bytes (some may happen to be valid: replies are not checked).
    rng = random.Random(20261126)
    noise = [sensors("noise%d" % i) for i in range(16)]
    fwd = Forwarder(gateway.addr4)
    try:
        for k in range(1500):
            n = rng.choice([0, 1, 2, 3, 4, 7, 16, 64, 255, 256, 300, 1000])
            raw = bytes(rng.getrandbits(8) for _ in range(n))
            if k % 3 == 0 and n >= 2:
                raw = bytes([n if n < 256 else 0x01]) + raw[1:]  # plausible Length, random rest
            noise[k % len(noise)].link.send(raw)
        for raw in bad:
            fwd.link.send(sn.encapsulate(b"\x09", raw))
    finally:
        fwd.close()

    assert gateway.alive(), "gateway died on malformed input"
    # The victim still works in both directions.
    victim.pingreq()
    victim.expect(sn.PINGRESP, timeout=10)
    victim.publish(tid, b"after the storm", qos=1)
    observer.wait_payload("robust/up", b"after the storm")
    observer.publish("robust/down", b"still here", qos=1)
    p = victim.receive_publish()
    assert (p.topic_id, p.data) == (sub.topic_id, b"still here")
    # Newcomers are served.
    fresh = sensors("fresh")
    fresh.send(sn.searchgw(0))
    fresh.expect(sn.GWINFO)
    fresh.connect("robust-fresh")
    fresh.publish(1, b"fresh", qos=1, topic_id_type=sn.TOPIC_PREDEFINED)


def test_malformed_from_one_forwarded_node_does_not_affect_another(gateway, observer):
    fwd = Forwarder(gateway.addr4)
    try:
        good = Sensor(link=fwd.node(b"\x01"), name="good-node")
        good.connect("robust-node-good")
        tid = good.register("robust/node")
        observer.subscribe("robust/#", qos=1)
        for raw in clearly_malformed(tid):
            fwd.link.send(sn.encapsulate(b"\x02", raw))
            fwd.link.send(sn.encapsulate(b"\x01", raw))
        good.expect_nothing(1.0)
        good.publish(tid, b"ok", qos=1)
        observer.wait_payload("robust/node", b"ok")
    finally:
        fwd.close()


def test_gateway_exits_zero_on_sigterm_with_sessions(gateway, sensors):
    for i in range(5):
        sensors("s%d" % i).connect("sigterm-%d" % i)
    assert gateway.stop() == 0, gateway.log_text()[-3000:]
