"""Forwarder encapsulation (§5.5): several wireless nodes behind one UDP address."""
import mqttsn_packets as sn
from harness import Forwarder, Sensor


def test_two_nodes_behind_one_forwarder_are_two_sensors(gateway, observer):
    fwd = Forwarder(gateway.addr4)
    try:
        n1 = Sensor(link=fwd.node(b"\x00\x01"), name="node1")
        n2 = Sensor(link=fwd.node(b"\x00\x02"), name="node2")
        n1.connect("fwd-node-1")
        n2.connect("fwd-node-2")
        observer.subscribe("fwd/#", qos=1)
        t1 = n1.register("fwd/one")
        t2 = n2.register("fwd/two")
        n1.publish(t1, b"from node 1", qos=1)
        n2.publish(t2, b"from node 2", qos=2)
        observer.wait_payload("fwd/one", b"from node 1")
        observer.wait_payload("fwd/two", b"from node 2")
        # Downlink reaches only the node that subscribed, encapsulated with its node id.
        s1 = n1.subscribe("fwd/down1", qos=1)
        n2.subscribe("fwd/down2", qos=1)
        observer.publish("fwd/down1", b"to node 1", qos=1)
        p = n1.receive_publish()
        assert (p.topic_id, p.data) == (s1.topic_id, b"to node 1")
        n2.expect_nothing(0.5)
        # Each node disconnects on its own; the other stays connected.
        n1.disconnect()
        n2.pingreq()
        n2.expect(sn.PINGRESP)
        assert not fwd.unencapsulated, fwd.unencapsulated
    finally:
        fwd.close()


def test_replies_are_encapsulated_with_the_node_id(gateway):
    fwd = Forwarder(gateway.addr4)
    try:
        node = b"\xAB\xCD\xEF"  # the Wireless Node Id has variable length (§5.5)
        fwd.link.send(sn.encapsulate(node, sn.connect("fwd-raw", 60)))
        raw = fwd.link.recv(10)
        assert raw is not None, "no reply to an encapsulated CONNECT"
        p = sn.parse(raw)
        assert p.type == sn.ENCAPSULATED, p
        assert p.node_id == node
        assert p.inner.type == sn.CONNACK and p.inner.return_code == sn.ACCEPTED
        # The same address without encapsulation is a different (unknown) sensor.
        fwd.link.send(sn.pingreq())
        p = sn.parse(fwd.link.recv(5) or b"\x00")
        assert p.type == sn.DISCONNECT, p
    finally:
        fwd.close()


def test_long_message_inside_encapsulation(gateway, observer):
    fwd = Forwarder(gateway.addr4)
    try:
        n = Sensor(link=fwd.node(b"\x07"), name="node7")
        n.connect("fwd-big")
        observer.subscribe("fwdbig/#", qos=1)
        tid = n.register("fwdbig/up")
        payload = b"U" * 400
        n.publish(tid, payload, qos=1)
        observer.wait_payload("fwdbig/up", payload)
        sub = n.subscribe("fwdbig/down", qos=0)
        observer.publish("fwdbig/down", b"W" * 400, qos=0)
        p = n.receive_publish()
        assert p.long_length and p.topic_id == sub.topic_id and p.data == b"W" * 400
    finally:
        fwd.close()
