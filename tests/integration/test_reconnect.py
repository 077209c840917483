"""Connect storms and broker outages (docs/design.md "Connect storms and broker outages").

- A burst of CONNECTs, each sent twice (a sensor's retransmission), with one upstream connect
  allowed in flight: every sensor is accepted within 5 s, and the broker sees one connection per
  ClientId (transparent mode).
- The broker stopped for 4 s and restarted on the same port: the sensor's upstream (its own
  connection, or the shared link in aggregating mode) is back within 2 s of the restart (typically
  1.1-1.5 s: the probe interval plus Paho C noticing the new connection). Paho's
  own back-off (1, 2, 4 ... s) brought it back about 3 s after the broker.
"""
import os
import re
import select
import signal
import time

import pytest

import mqttsn_packets as sn
from harness import Gateway, Mosquitto, Sensor, UdpLink, broker_mode, wait_until

OUTAGE = 4.0  # s


class NoticeMosquitto(Mosquitto):
    """mosquitto that logs every new connection (to count them per ClientId)."""

    def __init__(self, workdir):
        super().__init__(workdir)
        with open(self.conf, "a") as f:
            f.write("log_type notice\nconnection_messages true\n")


@pytest.fixture
def nbroker(request, tmp_path):
    b = NoticeMosquitto(str(tmp_path)).start()
    request.node._brokers = getattr(request.node, "_brokers", []) + [b]
    yield b
    b.stop()


def start_gateway(request, broker, tmp_path, extra):
    d = tmp_path / "gw"
    d.mkdir()
    gw = Gateway(broker.uri, workdir=str(d))
    with open(gw.config) as f:
        text = f.read()
    with open(gw.config, "w") as f:
        f.write(text.replace("connect_timeout_ms = 3000\n", "connect_timeout_ms = 3000\n" + extra, 1))
    request.node._gateways = getattr(request.node, "_gateways", []) + [gw]
    return gw.start()


@pytest.mark.skipif(broker_mode() == "aggregating", reason="per-sensor connections: transparent mode")
def test_repeated_connects_in_a_burst_open_one_connection_each(request, nbroker, tmp_path):
    n = 100
    gw = start_gateway(request, nbroker, tmp_path, "max_connects_in_flight = 1\n")
    links = [UdpLink(gw.addr4) for _ in range(n)]
    try:
        t0 = time.monotonic()
        for i, link in enumerate(links):
            link.send(sn.connect("burst-%02d" % i, 60))
        for i, link in enumerate(links):  # the retransmission, while connecting or queued
            link.send(sn.connect("burst-%02d" % i, 60))
        answers = {}
        by_fd = {link.fileno(): i for i, link in enumerate(links)}
        while time.monotonic() - t0 < 6.0:
            r, _, _ = select.select(list(by_fd), [], [], 0.1)
            for fd in r:
                i = by_fd[fd]
                raw = links[i].recv(0)
                if raw is None:
                    continue
                p = sn.parse(raw)
                if p.type == sn.CONNACK:
                    answers.setdefault(i, []).append((p.return_code, time.monotonic() - t0))
        assert sorted(answers) == list(range(n)), "no CONNACK for %r" % sorted(set(range(n)) - set(answers))
        late = {i: a for i, a in answers.items() if a[0][1] > 5.0}
        assert not late, "CONNACK after more than 5 s: %r" % late
        # A retransmission that arrives once the sensor is connected is answered again (6.2);
        # one that arrives while its upstream connect is queued or under way is not.
        accepted = [i for i, a in answers.items() if all(rc == sn.ACCEPTED for rc, _ in a)]
        assert len(accepted) == n, answers
        assert any(len(a) == 1 for a in answers.values()), "no retransmission hit a pending connect"
        # One broker connection per ClientId: a repeated CONNECT opened no second one.
        log = nbroker.log_text()
        for i in range(n):
            seen = len(re.findall(r"New client connected from \S+ as burst-%02d " % i, log))
            assert seen == 1, "burst-%02d connected %d times upstream\n%s" % (i, seen, log[-3000:])
    finally:
        for link in links:
            link.close()
        assert gw.stop() == 0


def _qos1_answer(sensor, topic_id):
    """Return code of the PUBACK to one QoS 1 PUBLISH, None if none came within 0.3 s."""
    mid = sensor.next_msg_id()
    sensor.send(sn.publish(topic_id, b"x", mid, 1))
    t0 = time.monotonic()
    while time.monotonic() - t0 < 0.3:
        p = sensor.recv(0.05)
        if p is not None and p.type == sn.PUBACK and p.msg_id == mid:
            return p.return_code
    return None


def test_upstream_back_within_1_5_s_of_the_broker_restart(request, broker, make_gateway):
    gateway = make_gateway()
    sensor = Sensor(gateway, name="reconnect")
    sensor.connect("reconnect-1", duration=60)
    topic_id = sensor.register("reconnect/1")
    assert _qos1_answer(sensor, topic_id) == sn.ACCEPTED
    try:
        broker.proc.send_signal(signal.SIGTERM)
        broker.proc.wait(10)
        t_down = time.monotonic()
        assert wait_until(lambda: _qos1_answer(sensor, topic_id) == sn.REJ_CONGESTION, 5, 0), \
            "the gateway never noticed the outage\n" + sensor.history()
        time.sleep(max(0.0, OUTAGE - (time.monotonic() - t_down)))
        broker._logf.close()
        broker.start()  # same port; returns once it accepts connections
        t_up = time.monotonic()
        back = wait_until(lambda: _qos1_answer(sensor, topic_id) == sn.ACCEPTED, 10, 0)
        took = time.monotonic() - t_up
        print("upstream back %.2f s after the broker restart" % took)
        assert back, "upstream not back 10 s after the broker restart\n" + sensor.history()
        # The probe tries every 250 ms and the waker ends Paho's poll wait for its connect
        # (docs/design.md): back well within 1 s, with room for a loaded CI machine.
        assert took < 1.0, "upstream back %.2f s after the broker restart (outage %.1f s)" % (took, OUTAGE)
    finally:
        sensor.close()
