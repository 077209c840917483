"""Broker reachability as sensors see it (docs/design.md Upstream, §6.1)."""
import mqttsn_packets as sn


def test_advertise_stops_while_broker_unreachable(gateway, broker):
    assert gateway.wait_advertise(timeout=5) is not None
    broker.stop()
    # Drain what was already on its way, then expect silence over several advertise intervals.
    for _ in range(3):
        if gateway.wait_advertise(timeout=1.5) is None:
            break
    assert gateway.wait_advertise(timeout=3) is None, "ADVERTISE sent while the broker is down"


def test_connect_while_broker_down_gets_congestion(gateway, broker, sensor, client_id):
    broker.stop()
    sensor.send(sn.connect(client_id, 60))
    p = sensor.expect(sn.CONNACK, timeout=15)  # an answer, not a hang
    assert p.return_code == sn.REJ_CONGESTION, p


def test_qos1_not_acknowledged_as_delivered_while_broker_down(gateway, broker, sensor, client_id):
    sensor.connect(client_id)
    tid = sensor.register("down/q1")
    broker.stop()
    sensor.send(sn.publish(tid, b"cannot be delivered", 5, qos=1))
    p = sensor.recv(5)
    if p is not None:  # silence is fine (the sensor retries); an accepted PUBACK is a lie
        assert not (p.type == sn.PUBACK and p.return_code == sn.ACCEPTED), p
