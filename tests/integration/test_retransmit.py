"""Gateway retransmission (Tretry 0.7 s, Nretry 2), in-flight limit, CleanSession=false."""
import pytest

import mqttsn_packets as sn

WILL_TIMEOUT = 12  # generous upper bound for "lost" detection; the tests assert behaviour, not speed


def test_downlink_qos1_unacknowledged_is_retransmitted_then_client_lost(gateway, sensor, observer, client_id):
    observer.subscribe("will/#", qos=1)
    sensor.connect(client_id, duration=60, will=("will/retry", b"lost by retries", 1, False))
    sub = sensor.subscribe("retry/t", qos=1)
    observer.publish("retry/t", b"ack me", qos=1)
    first = sensor.expect(sn.PUBLISH, timeout=5)
    assert not first.dup and first.qos == 1 and first.topic_id == sub.topic_id
    retries = []
    while True:
        p = sensor.recv(5)
        if p is None:
            break
        if p.type == sn.DISCONNECT:  # telling the lost sensor is allowed
            break
        assert p.type == sn.PUBLISH, (p, sensor.history())
        retries.append(p)
    assert retries, "no retransmission of an unacknowledged QoS 1 PUBLISH"
    for p in retries:
        assert p.dup, "retransmitted PUBLISH without DUP: %r" % p
        assert (p.msg_id, p.topic_id, p.data) == (first.msg_id, first.topic_id, b"ack me")
    assert len(retries) == gateway.protocol["retry_count"], retries
    # Retries exhausted -> lost (keep-alive is 60 s, so this is not keep-alive supervision).
    observer.wait_payload("will/retry", b"lost by retries", timeout=WILL_TIMEOUT)
    sensor.pingreq()
    sensor.expect(sn.DISCONNECT)

def test_unacknowledged_register_is_retransmitted_then_client_lost(gateway, sensor, observer, client_id):
    observer.subscribe("will/#", qos=1)
    sensor.connect(client_id, duration=60, will=("will/reg", b"lost by REGISTER retries", 1, False))
    sensor.subscribe("rr/#", qos=0)
    observer.publish("rr/x", b"x", qos=0)
    first = sensor.expect(sn.REGISTER)
    retries = []
    while True:
        p = sensor.recv(5)
        if p is None or p.type == sn.DISCONNECT:
            break
        assert p.type == sn.REGISTER, (p, sensor.history())
        retries.append(p)
    assert len(retries) == gateway.protocol["retry_count"], retries
    assert all((p.msg_id, p.topic_id, p.topic_name) == (first.msg_id, first.topic_id, "rr/x") for p in retries)
    observer.wait_payload("will/reg", b"lost by REGISTER retries", timeout=WILL_TIMEOUT)

@pytest.mark.gateway_config(protocol={"retry_interval_ms": 4000})
def test_one_downlink_qos1_in_flight_at_a_time(sensor, observer, client_id):
    sensor.connect(client_id)
    sensor.subscribe("inflight/t", qos=1)
    for i in range(3):
        observer.publish("inflight/t", b"m%d" % i, qos=1)
    p = sensor.expect(sn.PUBLISH)
    assert p.data == b"m0"
    sensor.expect_nothing(1.5)  # the next one waits for our PUBACK (Tretry is 4 s here)
    sensor.send(sn.puback(p.topic_id, p.msg_id))
    assert [sensor.receive_publish().data for _ in range(2)] == [b"m1", b"m2"]

def test_clean_session_false_subscriptions_survive_reconnect(sensors, observer, client_id):
    first = sensors("first")
    first.connect(client_id, clean=False)
    sub = first.subscribe("cs/keep", qos=1)
    first.disconnect()
    again = sensors("again")
    again.connect(client_id, clean=False)
    observer.publish("cs/keep", b"still subscribed", qos=1)
    regs = {}
    p = again.receive_publish(registrations=regs)
    assert p.data == b"still subscribed"
    # After a reconnect the gateway REGISTERs the name again before using its id.
    assert regs.get(p.topic_id) == "cs/keep", (regs, again.history())
    assert sub.topic_id != 0

def test_clean_session_true_drops_subscriptions(sensors, observer, client_id):
    first = sensors("first")
    first.connect(client_id, clean=False)
    first.subscribe("cs/drop", qos=1)
    first.disconnect()
    again = sensors("again")
    again.connect(client_id, clean=True)
    barrier = again.subscribe("cs/barrier", qos=1)
    observer.publish("cs/drop", b"should be gone", qos=1)
    observer.publish("cs/barrier", b"barrier", qos=1)
    p = again.receive_publish()
    assert (p.topic_id, p.data) == (barrier.topic_id, b"barrier"), again.history()


def test_clean_session_false_topic_registrations_survive_reconnect(sensors, observer, client_id):
    observer.subscribe("csreg/#", qos=1)
    first = sensors("first")
    first.connect(client_id, clean=False)
    tid = first.register("csreg/up")
    first.disconnect()
    again = sensors("again")
    again.connect(client_id, clean=False)
    again.publish(tid, b"old id still valid", qos=1)  # PUBACK accepted, no REGISTER needed
    observer.wait_payload("csreg/up", b"old id still valid")
