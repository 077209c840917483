"""Persistence: sessions survive a gateway restart, clean (SIGTERM) or not (SIGKILL).

The gateway keeps sensor sessions in [state] path (SQLite). Each test restarts the same gateway
(same config, port and state file) and checks what a sensor relies on: a sleeping sensor's
buffered QoS 1 messages, its topic registrations, a live sensor's registered topic ids, and a
parked CleanSession=false session. The closing figures (sent, acknowledged, delivered across the
restart) are printed with -s.
"""
import os
import sqlite3
import time

import pytest

import mqttsn_packets as sn
from harness import Gateway, broker_mode, wait_until

# Downlink: published by the broker-side client, delivered to (and acknowledged by) the sensor.
# Uplink: published by the sensor, acknowledged (PUBACK) by the gateway, delivered to the broker.
FIGURES = {"down_sent": 0, "down_delivered": 0, "up_sent": 0, "up_acked": 0, "up_delivered": 0}


def _count(db, sql, *args):
    """A committed count from the gateway's state file (a second reader, as WAL allows)."""
    try:
        c = sqlite3.connect("file:%s?mode=ro" % db, uri=True, timeout=2)
        try:
            return c.execute(sql, args).fetchone()[0]
        finally:
            c.close()
    except sqlite3.Error:
        return -1


def _buffered(db, client_id):
    return _count(db, "SELECT count(*) FROM buffered_messages WHERE client_id = ?",
                  client_id.encode())


def _registrations(db, client_id):
    return _count(db, "SELECT count(*) FROM registrations WHERE client_id = ?", client_id.encode())


def _restart(gw, how, sessions, live=None):
    """Stops `gw` (SIGKILL or SIGTERM), starts it again and waits until the `live` (default: all)
    restored sessions' upstream connections are up."""
    mark = gw.log_size()
    if how == "kill":
        gw.kill()
    else:
        assert gw.terminate() == 0, gw.log_text()[-3000:]
    gw.start()
    restored = "restored %d sessions" % sessions
    assert wait_until(lambda: restored in gw.log_since(mark), 10), gw.log_since(mark)[-3000:]
    # Parked sessions have no upstream connection until their sensor comes back.
    live = sessions if live is None else live
    if live:
        wait_until(lambda: gw.log_since(mark).count("upstream connected") >= live, 10)
    return gw.log_since(mark)


@pytest.fixture
def state_gateway(make_gateway, tmp_path):
    db = str(tmp_path / "state.db")
    gw = make_gateway(state_path=db)
    gw.db = db
    return gw


@pytest.mark.parametrize("how", ["kill", "term"])
def test_sleeping_sensor_keeps_buffer_and_registrations(state_gateway, sensors, observer,
                                                        client_id, how):
    gw, db = state_gateway, state_gateway.db
    a = sensors("A", gw=gw)
    cid = client_id[:21] + how[0]
    observer.subscribe("rs/%s/up" % cid, qos=1)
    a.connect(cid, duration=60)
    up_id = a.register("rs/%s/up" % cid)
    sub = a.subscribe("rs/%s/down" % cid, qos=1)
    a.disconnect(duration=30)  # asleep: the sleep timer (33 s) outlives the restart
    payloads = [b"m1", b"m2", b"m3"]
    for p in payloads:
        observer.publish("rs/%s/down" % cid, p, qos=1)
        FIGURES["down_sent"] += 1
    assert wait_until(lambda: _buffered(db, cid) == 3, 10), "the 3 messages were never stored"
    assert _registrations(db, cid) >= 1

    log = _restart(gw, how, 1)
    assert "restored 1 sessions (1 asleep, 0 parked, 3 buffered messages)" in log, log[-3000:]

    # Waking with PINGREQ(ClientId): the buffer in order, each acknowledged, then PINGRESP.
    a.pingreq(cid)
    got = []
    for _ in payloads:
        p = a.receive_publish(timeout=5)
        assert p.qos == 1 and p.topic_id == sub.topic_id
        got.append(p.data)
        FIGURES["down_delivered"] += 1
    assert got == payloads
    a.expect(sn.PINGRESP)
    assert wait_until(lambda: _buffered(db, cid) == 0, 5), "acknowledged messages stay stored"

    # Its registration survived too: a CleanSession=false CONNECT keeps it, the old id works.
    a.connect(cid, duration=60, clean=False)
    ack = a.publish(up_id, b"after restart", qos=1)
    FIGURES["up_sent"] += 1
    assert ack.return_code == sn.ACCEPTED
    FIGURES["up_acked"] += 1
    observer.wait_payload("rs/%s/up" % cid, b"after restart")
    FIGURES["up_delivered"] += 1


@pytest.mark.parametrize("how", ["kill", "term"])
def test_active_sensor_publishes_on_registered_id_after_restart(state_gateway, sensors, observer,
                                                                client_id, how):
    gw, db = state_gateway, state_gateway.db
    b = sensors("B", gw=gw)
    cid = client_id[:21] + how[0]
    topic = "rs/%s/b" % cid
    observer.subscribe(topic, qos=1)
    b.connect(cid, duration=60)
    tid = b.register(topic)
    b.publish(tid, b"before", qos=1)
    FIGURES["up_sent"] += 1
    FIGURES["up_acked"] += 1
    observer.wait_payload(topic, b"before")
    FIGURES["up_delivered"] += 1
    assert wait_until(lambda: _registrations(db, cid) == 1, 5)

    # The hot path writes nothing: uplink PUBLISH (QoS 0 and 1) leaves the state file untouched.
    time.sleep(0.3)
    wal = db + "-wal"
    before = os.stat(wal).st_mtime_ns
    for i in range(20):
        b.publish(tid, b"q0 %d" % i, qos=0)
        b.publish(tid, b"q1 %d" % i, qos=1)
    observer.wait_payload(topic, b"q0 19")
    assert os.stat(wal).st_mtime_ns == before, "uplink PUBLISH wrote to the state file"

    _restart(gw, how, 1)
    # No new CONNECT, the same address: the restored session knows the sensor and its topic id.
    for i in range(3):
        payload = b"after %d" % i
        ack = b.publish(tid, payload, qos=1)
        FIGURES["up_sent"] += 1
        assert ack.return_code == sn.ACCEPTED
        FIGURES["up_acked"] += 1
        observer.wait_payload(topic, payload)
        FIGURES["up_delivered"] += 1


def test_parked_clean_session_false_survives_sigkill(state_gateway, sensors, observer, client_id):
    gw, db = state_gateway, state_gateway.db
    p = sensors("P", gw=gw)
    up = "rs/%s/up" % client_id
    down = "rs/%s/down" % client_id
    observer.subscribe(up, qos=1)
    p.connect(client_id, duration=60, clean=False)
    tid = p.register(up)
    p.subscribe(down, qos=1)
    p.send(sn.disconnect())  # clean DISCONNECT: parked, its broker session kept
    p.expect(sn.DISCONNECT)
    assert wait_until(lambda: _count(db, "SELECT state FROM sessions WHERE client_id = ?",
                                     client_id.encode()) == 3, 5), "parked session not stored"
    # Published while it is away: the broker keeps them for its CleanSession=false session
    # (transparent mode); in aggregating mode the gateway keeps them in the parked session's
    # buffer, stored in the state file.
    for payload in (b"p1", b"p2"):
        observer.publish(down, payload, qos=1)
        FIGURES["down_sent"] += 1
    kept = 2 if broker_mode() == "aggregating" else 0
    assert wait_until(lambda: _buffered(db, client_id) == kept, 5), "parked buffer not stored"

    log = _restart(gw, "kill", 1, live=0)
    assert "restored 1 sessions (0 asleep, 1 parked, %d buffered messages)" % kept in log, \
        log[-3000:]

    p.connect(client_id, duration=60, clean=False)
    got = [p.receive_publish(timeout=10).data for _ in range(2)]
    assert got == [b"p1", b"p2"]
    FIGURES["down_delivered"] += 2
    assert p.publish(tid, b"resumed", qos=1).return_code == sn.ACCEPTED
    FIGURES["up_sent"] += 1
    FIGURES["up_acked"] += 1
    observer.wait_payload(up, b"resumed")
    FIGURES["up_delivered"] += 1


@pytest.mark.parametrize("damage", ["garbage", "newer_schema"])
def test_unusable_state_file_is_moved_aside(make_gateway, tmp_path, sensors, damage):
    db = tmp_path / "state.db"
    if damage == "garbage":
        db.write_bytes(b"this is not an SQLite database\n" * 200)
    else:
        c = sqlite3.connect(str(db))
        c.execute("CREATE TABLE sessions (client_id BLOB)")
        c.execute("PRAGMA user_version = 99")
        c.commit()
        c.close()
    original = db.read_bytes()
    gw = make_gateway(state_path=str(db))
    log = gw.log_text()
    assert "is unusable" in log and "moved aside to" in log, log[-3000:]
    aside = [f for f in os.listdir(tmp_path) if f.startswith("state.db.damaged-")]
    assert aside, os.listdir(tmp_path)
    assert (tmp_path / aside[0]).read_bytes() == original  # kept as it was, for inspection
    if damage == "newer_schema":
        assert "newer" in log
    # The gateway runs, with a fresh store that keeps new sessions.
    s = sensors("S", gw=gw)
    s.connect("rsdamaged", duration=60)
    s.register("rs/damaged")
    assert wait_until(lambda: _registrations(str(db), "rsdamaged") == 1, 5)


def test_state_file_that_cannot_be_created_stops_the_start(broker, tmp_path):
    gw = Gateway(broker.uri, workdir=str(tmp_path),
                 state_path=str(tmp_path / "no-such-dir" / "state.db"))
    with pytest.raises(RuntimeError, match="exited with 1"):
        gw.start(ready_timeout=5)
    assert "state.path: cannot create the state file" in gw.log_text(), gw.log_text()[-2000:]
    assert not os.path.exists(tmp_path / "no-such-dir")
    gw.stop()


def test_zz_figures():
    """Prints the restart figures of the tests above (run with -s)."""
    print("\nrestart figures: downlink QoS 1 sent %(down_sent)d, delivered and acknowledged by the "
          "sensor %(down_delivered)d; uplink QoS 1 sent %(up_sent)d, acknowledged %(up_acked)d, "
          "delivered to the broker %(up_delivered)d" % FIGURES)
