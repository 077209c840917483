"""Prometheus /metrics ([metrics] listen): values against the status JSON during and after load,
`promtool check metrics`, HTTP answers and limits, and a half-open connection flood that must not
stop the gateway serving sensors and other scrapes.

Runs the real mqttsn-gateway (MQTTSN_GATEWAY) against a real mosquitto (tests/integration/harness.py).
"""
import json
import os
import re
import shutil
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request

import pytest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "integration"))
from harness import Gateway, Mosquitto, Observer, Sensor, free_port, gateway_exe, wait_until  # noqa: E402

SAMPLE = re.compile(r'^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)$')


def parse(text):
    """{(name, frozenset(labels)): value} of a text exposition; checks every line's shape."""
    out = {}
    for line in text.splitlines():
        if line.startswith("#"):
            assert re.match(r"^# (HELP|TYPE) [a-z0-9_]+ ", line), line
            continue
        m = SAMPLE.match(line)
        assert m, line
        labels = frozenset(re.findall(r'([a-z_]+)="((?:[^"\\]|\\.)*)"', m.group(2) or ""))
        out[(m.group(1), labels)] = float(m.group(3))
    return out


def v(metrics, name, **labels):
    return metrics[(name, frozenset(labels.items()))]


def scrape(port, path="/metrics", timeout=5):
    with urllib.request.urlopen("http://127.0.0.1:%d%s" % (port, path), timeout=timeout) as r:
        assert r.status == 200
        assert r.headers["Content-Type"].startswith("text/plain; version=0.0.4")
        return r.read().decode()


@pytest.fixture
def broker(tmp_path):
    os.makedirs(tmp_path / "broker")
    b = Mosquitto(workdir=str(tmp_path / "broker"))
    b.start()
    yield b
    b.stop()


def metrics_gateway(broker, tmp_path, gw_id=21):
    os.makedirs(tmp_path / "gw")
    port = free_port()
    # Tadv long: no ADVERTISE moves messages.out between a status tick and a scrape.
    gw = Gateway(broker.uri, workdir=str(tmp_path / "gw"), gw_id=gw_id, log_level="info",
                 protocol={"advertise_interval_s": 900},
                 sections={"status": {"interval_s": 1},
                           "metrics": {"listen": "127.0.0.1:%d" % port}})
    gw.metrics_port = port
    return gw


# status JSON path -> (metric, labels)
PAIRS = {
    ("sensors", "active"): ("mqttsn_gateway_sensors", {"state": "active"}),
    ("sensors", "asleep"): ("mqttsn_gateway_sensors", {"state": "asleep"}),
    ("sensors", "awake"): ("mqttsn_gateway_sensors", {"state": "awake"}),
    ("sensors", "connecting"): ("mqttsn_gateway_sensors", {"state": "connecting"}),
    ("by_transport", "udp"): ("mqttsn_gateway_sensors_by_transport", {"transport": "udp"}),
    ("by_transport", "ble"): ("mqttsn_gateway_sensors_by_transport", {"transport": "ble"}),
    ("messages", "in"): ("mqttsn_gateway_datagrams_received_total", {}),
    ("messages", "out"): ("mqttsn_gateway_datagrams_sent_total", {}),
    ("refused", "client_id"): ("mqttsn_gateway_connects_refused_total", {"reason": "client_id"}),
    ("refused", "network"): ("mqttsn_gateway_connects_refused_total", {"reason": "network"}),
    ("refused", "max_sessions"): ("mqttsn_gateway_connects_refused_total",
                                  {"reason": "max_sessions"}),
    ("buffered", "messages"): ("mqttsn_gateway_buffered_messages", {}),
    ("buffered", "bytes"): ("mqttsn_gateway_buffered_bytes", {}),
    ("malformed",): ("mqttsn_gateway_malformed_datagrams_total", {}),
    ("sessions_created",): ("mqttsn_gateway_sessions_created_total", {}),
}


def status_values(st):
    out = {}
    for path in PAIRS:
        x = st
        for k in path:
            x = x[k]
        out[path] = x
    for reason, n in st["drops"].items():
        out[("drops", reason)] = n
    return out


def metric_values(m):
    out = {path: v(m, name, **labels) for path, (name, labels) in PAIRS.items()}
    for (name, labels), n in m.items():
        if name == "mqttsn_gateway_dropped_total":
            out[("drops", dict(labels)["reason"])] = n
    return out


def test_scrape_during_load_matches_status_json(broker, tmp_path):
    gw = metrics_gateway(broker, tmp_path)
    obs = Observer(broker.port)
    obs.subscribe("mqttsn-gateway/21/status")
    gw.start()
    stop = threading.Event()
    sent = []
    try:
        sensors = [Sensor(gw, name="m%d" % i) for i in range(3)]
        tids = []
        for i, s in enumerate(sensors):
            s.connect("metrics-%d" % i)
            tids.append(s.register("load/%d" % i))
        sleeper = Sensor(gw, name="sleeper")
        sleeper.connect("metrics-sleeper")
        sleeper.disconnect(duration=60)  # asleep

        def load():
            n = 0
            while not stop.is_set():
                for s, tid in zip(sensors, tids):
                    s.publish(tid, b"x%d" % n, qos=0)
                    n += 1
                time.sleep(0.002)
            sent.append(n)
        t = threading.Thread(target=load)
        t.start()
        # Scrapes during the load: well-formed, counters never go back.
        last = None
        for _ in range(30):
            m = parse(scrape(gw.metrics_port))
            if last is not None:
                for key, n in m.items():
                    if key[0].endswith("_total"):
                        assert n >= last.get(key, 0), key
            last = m
            time.sleep(0.05)
        stop.set()
        t.join()
        # Malformed and unknown-sender traffic shows in both.
        raw = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        raw.sendto(b"\x02\xff", gw.addr4)
        raw.sendto(b"\x08\x0c\x00\x00\x01\x00\x00x", gw.addr4)  # QoS 0 PUBLISH from nobody
        raw.close()

        # Quiet now: a status tick between two equal scrapes must match them exactly.
        def settled():
            before = metric_values(parse(scrape(gw.metrics_port)))
            seen = len(obs.on("mqttsn-gateway/21/status"))
            if not wait_until(lambda: len(obs.on("mqttsn-gateway/21/status")) > seen, 5):
                return False
            after = metric_values(parse(scrape(gw.metrics_port)))
            st = status_values(json.loads(obs.on("mqttsn-gateway/21/status")[-1].payload))
            if before != after:
                return False
            assert st == after, (st, after)
            return True
        assert wait_until(settled, 20, interval=0.1)
        m = parse(scrape(gw.metrics_port))
        assert v(m, "mqttsn_gateway_sensors", state="active") == 3
        assert v(m, "mqttsn_gateway_sensors", state="asleep") == 1
        assert v(m, "mqttsn_gateway_datagrams_received_total") >= sent[0]
        assert v(m, "mqttsn_gateway_malformed_datagrams_total") == 1
        assert v(m, "mqttsn_gateway_dropped_total", reason="unknown_sender") == 1
        assert v(m, "mqttsn_gateway_broker_up") == 1
        assert v(m, "mqttsn_gateway_broker_connects_total") >= 1
        assert v(m, "mqttsn_gateway_broker_losses_total") == 0
        if gw.mode == "transparent":
            assert v(m, "mqttsn_gateway_upstream_connects_total") == 4
        assert ("mqttsn_gateway_ble_links", frozenset()) not in m  # no BLE in this gateway
        for s in sensors:
            s.close()
        sleeper.close()
    finally:
        stop.set()
        gw.stop()
        obs.close()


def test_promtool_check_metrics_and_rules(broker, tmp_path):
    promtool = shutil.which("promtool")
    assert promtool, "promtool missing: bash scripts/deps.sh installs the 'prometheus' package"
    gw = metrics_gateway(broker, tmp_path, gw_id=22)
    gw.start()
    try:
        s = Sensor(gw)
        s.connect("promtool-sensor")
        text = scrape(gw.metrics_port)
        r = subprocess.run([promtool, "check", "metrics"], input=text, capture_output=True,
                           text=True, timeout=30)
        assert r.returncode == 0, r.stdout + r.stderr
        # No lint remarks either (names, units, _total suffixes, HELP).
        assert r.stdout.strip() == "" and r.stderr.strip() == "", r.stdout + r.stderr
        s.close()
    finally:
        gw.stop()
    # The example alerts of the README, as a rules file.
    rules = os.path.join(HERE, "..", "..", "docs", "prometheus-alerts.yml")
    r = subprocess.run([promtool, "check", "rules", rules], capture_output=True, text=True,
                       timeout=30)
    assert r.returncode == 0 and "SUCCESS: 3 rules found" in r.stdout, r.stdout + r.stderr


def raw_request(port, data, timeout=5):
    c = socket.create_connection(("127.0.0.1", port), timeout=timeout)
    try:
        c.sendall(data)
        got = b""
        while True:
            chunk = c.recv(65536)
            if not chunk:
                return got
            got += chunk
    finally:
        c.close()


def test_http_answers_and_limits(broker, tmp_path):
    gw = metrics_gateway(broker, tmp_path, gw_id=23)
    gw.start()
    try:
        port = gw.metrics_port
        assert raw_request(port, b"GET /nothing HTTP/1.1\r\nHost: x\r\n\r\n").startswith(b"HTTP/1.1 404 ")
        assert raw_request(port, b"POST /metrics HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n") \
            .startswith(b"HTTP/1.1 405 ")
        assert raw_request(port, b"GARBAGE\r\n\r\n").startswith(b"HTTP/1.1 400 ")
        big = b"GET /metrics HTTP/1.1\r\nX-Pad: " + b"a" * 9000 + b"\r\n\r\n"
        assert raw_request(port, big).startswith(b"HTTP/1.1 413 ")
        head = raw_request(port, b"HEAD /metrics HTTP/1.1\r\nHost: x\r\n\r\n")
        assert head.startswith(b"HTTP/1.1 200 ") and head.endswith(b"\r\n\r\n"), head
        ok = raw_request(port, b"GET /metrics?x=1 HTTP/1.0\r\n\r\n")
        assert ok.startswith(b"HTTP/1.1 200 ") and b"mqttsn_gateway_sensors" in ok
        # A client that sends nothing is closed after the request timeout (5 s).
        idle = socket.create_connection(("127.0.0.1", port), timeout=10)
        t0 = time.monotonic()
        assert idle.recv(100) == b""
        assert 4 <= time.monotonic() - t0 < 9
        idle.close()
    finally:
        gw.stop()


def test_half_open_flood_leaves_sensors_and_scrapes_served(broker, tmp_path):
    gw = metrics_gateway(broker, tmp_path, gw_id=24)
    obs = Observer(broker.port)
    obs.subscribe("flood/#")
    gw.start()
    flood = []
    try:
        # 300 connections that send nothing or half a request and then hang, far over the cap.
        for i in range(300):
            c = socket.socket()
            c.setblocking(False)
            try:
                c.connect(("127.0.0.1", gw.metrics_port))
            except BlockingIOError:
                pass
            flood.append(c)
        time.sleep(0.2)
        for i, c in enumerate(flood):
            if i % 2:
                try:
                    c.send(b"GET /metr")
                except OSError:
                    pass
        # Sensors keep being served.
        s = Sensor(gw)
        s.connect("flood-sensor")
        tid = s.register("flood/data")
        for i in range(20):
            s.publish(tid, b"%d" % i, qos=1)
        obs.wait_for("flood/data", 20)
        # And a real scrape gets its answer while the flood is still open.
        t0 = time.monotonic()
        m = parse(scrape(gw.metrics_port, timeout=3))
        assert time.monotonic() - t0 < 2
        assert v(m, "mqttsn_gateway_sensors", state="active") == 1
        assert gw.alive()
        s.close()
    finally:
        for c in flood:
            c.close()
        gw.stop()
        obs.close()


def test_check_config_validates_metrics_listen(tmp_path):
    bad = tmp_path / "bad.toml"
    bad.write_text('[metrics]\nlisten = "localhost:9883"\n')
    r = subprocess.run([gateway_exe(), "--check-config", "--config", str(bad)],
                       capture_output=True, text=True, timeout=30)
    assert r.returncode == 1 and "metrics.listen" in r.stderr, r.stderr
    good = tmp_path / "good.toml"
    good.write_text('[metrics]\nlisten = "[::1]:9883"\n')
    r = subprocess.run([gateway_exe(), "--check-config", "--config", str(good)],
                       capture_output=True, text=True, timeout=30)
    assert r.returncode == 0, r.stderr


def test_broker_outage_shows_in_link_metrics(broker, tmp_path):
    gw = metrics_gateway(broker, tmp_path, gw_id=25)
    gw.start()
    try:
        s = Sensor(gw)
        s.connect("outage-sensor")

        def m():
            return parse(scrape(gw.metrics_port))
        assert wait_until(lambda: v(m(), "mqttsn_gateway_broker_up") == 1, 10)
        assert v(m(), "mqttsn_gateway_broker_connects_total") == 1
        broker.stop()
        assert wait_until(lambda: v(m(), "mqttsn_gateway_broker_up") == 0, 15)
        after = m()
        assert v(after, "mqttsn_gateway_broker_losses_total") == 1
        if gw.mode == "transparent":  # the sensor's own connection went down with the broker
            assert wait_until(lambda: v(m(), "mqttsn_gateway_upstream_losses_total") == 1, 10)
        broker.start()
        assert wait_until(lambda: v(m(), "mqttsn_gateway_broker_up") == 1, 30)
        assert v(m(), "mqttsn_gateway_broker_connects_total") == 2
        s.close()
    finally:
        gw.stop()
