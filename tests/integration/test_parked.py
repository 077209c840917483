"""CONNECT latency through the gateway, and parked CleanSession=false sessions
(protocol.parked_session_expiry_s, resume with Will=true)."""
import time

import pytest

import mqttsn_packets as sn
from harness import default_protocol


def test_connect_latency_is_milliseconds_not_seconds(sensors, gateway):
    # Paho's receive thread used to watch a new socket only after its 1 s poll: ~2 s per CONNECT.
    time.sleep(1.5)  # an idle gateway
    worst = 0.0
    for i in range(5):
        s = sensors("s%d" % i)
        t0 = time.monotonic()
        s.connect("r1lat%d" % i, duration=30)
        worst = max(worst, time.monotonic() - t0)
        s.send(sn.disconnect())
        s.expect(sn.DISCONNECT)
        time.sleep(0.3)
    assert worst < 0.5, "CONNECT -> CONNACK took %.0f ms" % (worst * 1000)


def _park(sensor, client_id, will=None):
    sensor.connect(client_id, duration=30, clean=False, will=will)
    tid = sensor.register("r1/parked/" + client_id)
    sensor.send(sn.disconnect())
    sensor.expect(sn.DISCONNECT)
    return tid


def _old_topic_id_works(sensor, tid):
    mid = sensor.next_msg_id()
    sensor.send(sn.publish(tid, b"x", msg_id=mid, qos=1))
    return sensor.expect(sn.PUBACK, timeout=5, msg_id=mid).return_code == sn.ACCEPTED


def test_parked_session_resumes_with_will(sensor, client_id):
    tid = _park(sensor, client_id)
    sensor.connect(client_id, duration=30, clean=False, will=("r1/will", b"bye", 0, False))
    assert _old_topic_id_works(sensor, tid), sensor.history()


@pytest.mark.gateway_config(protocol=dict(default_protocol(), parked_session_expiry_s=1))
def test_parked_session_expires(sensor, client_id):
    tid = _park(sensor, client_id)
    time.sleep(2.0)
    sensor.connect(client_id, duration=30, clean=False)
    assert not _old_topic_id_works(sensor, tid), "a parked session outlived its expiry"


@pytest.mark.gateway_config(protocol=dict(default_protocol(), parked_session_expiry_s=0))
def test_expiry_zero_parks_nothing(sensor, client_id):
    tid = _park(sensor, client_id)
    sensor.connect(client_id, duration=30, clean=False)
    assert not _old_topic_id_works(sensor, tid)


@pytest.mark.gateway_config(protocol=dict(default_protocol(), max_parked_sessions=1))
def test_cap_evicts_the_oldest(sensors):
    a, b = sensors("a"), sensors("b")
    ta = _park(a, "r1capA")
    time.sleep(0.05)
    tb = _park(b, "r1capB")
    b.connect("r1capB", duration=30, clean=False)
    assert _old_topic_id_works(b, tb)
    a.connect("r1capA", duration=30, clean=False)
    assert not _old_topic_id_works(a, ta)
