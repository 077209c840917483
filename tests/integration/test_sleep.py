"""Sleeping clients (§6.14 asleep / awake / lost by sleep timer).

Sleep durations 2-10 s (sleep timer = duration + 50 % below a minute).
"""
import time

import pytest

import mqttsn_packets as sn

WILL_TIMEOUT = 12  # generous upper bound for "lost" detection; the tests assert behaviour, not speed


def _sleep_and_fill(sensor, observer, client_id, topic, payloads_qos, duration=10):
    sensor.connect(client_id)
    sub = sensor.subscribe(topic, qos=2)
    sensor.disconnect(duration)
    for payload, qos in payloads_qos:
        observer.publish(topic, payload, qos=qos)
    return sub

def test_will_published_on_sleep_expiry(sensor, observer, client_id):
    observer.subscribe("will/#", qos=1)
    sensor.connect(client_id, duration=60, will=("will/sleep", b"lost asleep", 1, False))
    sensor.disconnect(duration=2)  # asleep; timer = 2 s + 50 %
    observer.wait_payload("will/sleep", b"lost asleep", timeout=WILL_TIMEOUT)

def test_sleep_buffers_then_pingreq_delivers_in_order_then_pingresp(sensor, observer, client_id):
    msgs = [(b"first", 1), (b"second", 0), (b"third", 2)]
    sub = _sleep_and_fill(sensor, observer, client_id, "sleep/buf", msgs)
    sensor.expect_nothing(1.5)  # nothing arrives while asleep
    sensor.pingreq(client_id)  # awake
    got = []
    for _ in msgs:
        p = sensor.receive_publish(timeout=5)
        got.append((p.data, p.qos))
        assert p.topic_id == sub.topic_id
    assert got == msgs
    sensor.expect(sn.PINGRESP)  # last, after the buffer
    # Asleep again: new messages are buffered, not sent.
    observer.publish("sleep/buf", b"fourth", qos=1)
    sensor.expect_nothing(1.5)
    sensor.pingreq(client_id)
    assert sensor.receive_publish().data == b"fourth"
    sensor.expect(sn.PINGRESP)

def test_pingreq_with_empty_buffer_answers_pingresp_and_sleeps_again(sensor, observer, client_id):
    sensor.connect(client_id)
    sensor.subscribe("sleep/empty", qos=1)
    sensor.disconnect(duration=10)
    sensor.pingreq(client_id)
    sensor.expect(sn.PINGRESP)
    observer.publish("sleep/empty", b"while asleep", qos=1)
    sensor.expect_nothing(1.5)

def test_sleeping_sensor_wakes_from_a_new_address(sensors, observer, client_id):
    # A sleeping sensor is found by the ClientId in PINGREQ (its NAT port may have changed).
    before = sensors("before")
    _sleep_and_fill(before, observer, client_id, "sleep/nat", [(b"buffered", 1)])
    before.expect_nothing(1.0)  # asleep: buffered (and gives the broker time to pass it on)
    after = sensors("after")
    after.pingreq(client_id)
    assert after.receive_publish().data == b"buffered"
    after.expect(sn.PINGRESP)
    before.expect_nothing(0.3)

def test_wake_by_connect_delivers_buffer(sensor, observer, client_id):
    msgs = [(b"one", 1), (b"two", 1), (b"three", 0)]
    _sleep_and_fill(sensor, observer, client_id, "sleep/connect", msgs)
    sensor.expect_nothing(1.0)
    sensor.send(sn.connect(client_id, 60, clean=False))
    connack, got = None, []
    deadline = time.monotonic() + 15
    while (connack is None or len(got) < len(msgs)) and time.monotonic() < deadline:
        p = sensor.recv(max(0.1, deadline - time.monotonic()))
        assert p is not None, "buffer not delivered after CONNECT\n" + sensor.history()
        if p.type == sn.CONNACK:
            connack = p
        elif p.type in (sn.PUBLISH, sn.REGISTER):
            sensor.ack(p)
            if p.type == sn.PUBLISH:
                got.append((p.data, p.qos))
        else:
            raise AssertionError("unexpected %r\n%s" % (p, sensor.history()))
    assert connack is not None and connack.return_code == sn.ACCEPTED
    assert got == msgs
    # Active again: delivery is immediate now.
    observer.publish("sleep/connect", b"live", qos=1)
    assert sensor.receive_publish().data == b"live"

def test_repeated_sleep_disconnect_is_harmless(sensor, observer, client_id):
    sensor.connect(client_id)
    sensor.subscribe("sleep/rep", qos=1)
    sensor.disconnect(duration=10)
    sensor.disconnect(duration=10)  # its ack was lost on the radio: answered again
    observer.publish("sleep/rep", b"kept", qos=1)
    sensor.expect_nothing(1.0)
    sensor.pingreq(client_id)
    assert sensor.receive_publish().data == b"kept"
    sensor.expect(sn.PINGRESP)

def test_keepalive_not_supervised_while_asleep(sensor, observer, client_id):
    observer.subscribe("will/#", qos=1)
    sensor.connect(client_id, duration=2, will=("will/asleep", b"must not appear", 1, False))
    sensor.disconnect(duration=8)  # sleep timer 12 s; keep-alive (3 s) must not fire
    time.sleep(5)
    sensor.pingreq(client_id)
    sensor.expect(sn.PINGRESP)
    assert not observer.on("will/asleep"), observer.messages

def test_sleep_duration_can_be_changed(sensor, observer, client_id):
    observer.subscribe("will/#", qos=1)
    sensor.connect(client_id, duration=60, will=("will/change", b"lost", 1, False))
    sensor.disconnect(duration=600)
    sensor.disconnect(duration=2)  # new, shorter duration: expiry now comes soon
    observer.wait_payload("will/change", b"lost", timeout=WILL_TIMEOUT)


@pytest.mark.gateway_config(protocol={"retry_interval_ms": 4000})
def test_pingresp_only_after_last_buffered_message_acknowledged(sensor, observer, client_id):
    _sleep_and_fill(sensor, observer, client_id, "sleep/ackfirst", [(b"a", 1), (b"b", 1)])
    sensor.expect_nothing(1.0)
    sensor.pingreq(client_id)
    first = sensor.expect(sn.PUBLISH)
    assert first.data == b"a"
    sensor.expect_nothing(1.0)  # one QoS 1 in flight: "b" waits for our PUBACK (Tretry is 4 s here)
    sensor.send(sn.puback(first.topic_id, first.msg_id))
    last = sensor.expect(sn.PUBLISH)
    assert last.data == b"b"
    sensor.expect_nothing(1.0)  # no PINGRESP before the last one is acknowledged
    sensor.send(sn.puback(last.topic_id, last.msg_id))
    sensor.expect(sn.PINGRESP)


def test_wildcard_topic_buffered_while_asleep_is_registered_on_wake(sensor, observer, client_id):
    sensor.connect(client_id)
    sensor.subscribe("sleepwc/#", qos=1)
    sensor.disconnect(duration=10)
    observer.publish("sleepwc/new", b"needs a REGISTER", qos=1)
    sensor.expect_nothing(1.0)
    sensor.pingreq(client_id)
    reg = sensor.expect(sn.REGISTER, topic_name="sleepwc/new")
    sensor.send(sn.regack(reg.topic_id, reg.msg_id))
    p = sensor.expect(sn.PUBLISH)
    assert (p.topic_id, p.data) == (reg.topic_id, b"needs a REGISTER")
    sensor.send(sn.puback(p.topic_id, p.msg_id))
    sensor.expect(sn.PINGRESP)


@pytest.mark.gateway_config(protocol={"max_buffered_per_client": 3})
def test_sleep_buffer_bound_drops_oldest_qos0_first(sensor, observer, client_id):
    sensor.connect(client_id)
    sensor.subscribe("sleep/bound", qos=1)
    sensor.disconnect(duration=10)
    # Full after a, b, c; d pushes out the oldest QoS 0 (a), e the next oldest QoS 0 (c).
    for payload, qos in [(b"a", 0), (b"b", 1), (b"c", 0), (b"d", 1), (b"e", 0)]:
        observer.publish("sleep/bound", payload, qos=qos)
        time.sleep(0.1)  # keep the broker's order to the gateway unambiguous
    sensor.expect_nothing(1.0)
    sensor.pingreq(client_id)
    got = []
    while True:
        p = sensor.recv(5)
        assert p is not None, sensor.history()
        if p.type == sn.PINGRESP:
            break
        assert p.type == sn.PUBLISH, p
        sensor.ack(p)
        got.append(p.data)
    assert got == [b"b", b"d", b"e"]
