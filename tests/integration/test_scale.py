"""200 concurrent sensors each publishing QoS 1: every PUBACK and every message arrives."""
import select
import time

import mqttsn_packets as sn
from harness import Sensor

N = 200


def _gather(sensors, want_type, timeout, resend=None):
    """Collect one `want_type` packet from every sensor; returns {index: packet}."""
    got = {}
    by_fd = {s.link.fileno(): (i, s) for i, s in enumerate(sensors)}
    deadline = time.monotonic() + timeout
    while len(got) < len(sensors) and time.monotonic() < deadline:
        r, _, _ = select.select(list(by_fd), [], [], max(0.0, deadline - time.monotonic()))
        for fd in r:
            i, s = by_fd[fd]
            p = s.recv(0)
            if p is None:
                continue
            assert p.type == want_type, "sensor %d: expected %s, got %r" % (i, sn.TYPE_NAMES[want_type], p)
            got[i] = p
    missing = sorted(set(range(len(sensors))) - set(got))
    assert not missing, "%d sensors got no %s (e.g. %s)" % (len(missing), sn.TYPE_NAMES[want_type], missing[:10])
    return got


def test_200_concurrent_sensors_publish_qos1(gateway, observer):
    observer.subscribe("scale/#", qos=1)
    sensors = [Sensor(gateway, name="s%d" % i) for i in range(N)]
    try:
        for i, s in enumerate(sensors):  # all CONNECTs in one burst
            s.send(sn.connect("scale-%03d" % i, 60))
        acks = _gather(sensors, sn.CONNACK, 60)
        assert all(p.return_code == sn.ACCEPTED for p in acks.values())
        for i, s in enumerate(sensors):
            s.send(sn.register(0, 1, "scale/%03d" % i))
        regacks = _gather(sensors, sn.REGACK, 30)
        assert all(p.return_code == sn.ACCEPTED and p.msg_id == 1 for p in regacks.values())
        for i, s in enumerate(sensors):
            s.send(sn.publish(regacks[i].topic_id, b"reading %03d" % i, msg_id=2, qos=1))
        pubacks = _gather(sensors, sn.PUBACK, 60)
        for i, p in pubacks.items():
            assert (p.msg_id, p.topic_id, p.return_code) == (2, regacks[i].topic_id, sn.ACCEPTED), (i, p)
        for i in range(N):  # PUBACK means the broker has it: no extra waiting needed
            observer.wait_payload("scale/%03d" % i, b"reading %03d" % i, timeout=5)
        assert len([m for m in observer.messages if m.topic.startswith("scale/")]) == N
    finally:
        for s in sensors:
            s.close()
