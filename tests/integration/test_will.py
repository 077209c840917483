"""Will (§6.2-§6.4) and keep-alive supervision (§6.14 active -> lost).

Short timers: keep-alive 2 s (lost after 1.5 x 2 s).
"""
import time

import mqttsn_packets as sn

WILL_TIMEOUT = 12  # generous upper bound for "lost" detection; the tests assert behaviour, not speed


def test_will_prompting_then_connack(sensor, observer, client_id):
    # §6.2 Figure 3: CONNECT(Will) -> WILLTOPICREQ -> WILLTOPIC -> WILLMSGREQ -> WILLMSG -> CONNACK.
    sensor.send(sn.connect(client_id, 2, will=True))
    sensor.expect(sn.WILLTOPICREQ)
    sensor.send(sn.willtopic("will/prompt", qos=1, retain=False))
    sensor.expect(sn.WILLMSGREQ)
    sensor.send(sn.willmsg(b"gone"))
    sensor.expect(sn.CONNACK, timeout=10, return_code=sn.ACCEPTED)
    # Traffic within each keep-alive period keeps the session: no will while alive.
    observer.subscribe("will/#", qos=1)
    for _ in range(5):
        time.sleep(1.0)
        sensor.pingreq()
        sensor.expect(sn.PINGRESP)
    assert not observer.on("will/prompt"), observer.messages

def test_will_published_on_keepalive_loss(sensor, observer, client_id):
    observer.subscribe("will/#", qos=1)
    sensor.connect(client_id, duration=2, will=("will/ka", b"lost by keep-alive", 1, False))
    # Silence: no packet for longer than 1.5 x 2 s.
    m = observer.wait_payload("will/ka", b"lost by keep-alive", timeout=WILL_TIMEOUT)
    assert m.qos == 1
    # The lost sensor has no session any more.
    sensor.pingreq()
    sensor.expect(sn.DISCONNECT)

def test_will_retain_flag_passed_upstream(sensor, observer, client_id):
    sensor.connect(client_id, duration=2, will=("will/retained", b"retained will", 1, True))
    observer.subscribe("will/#", qos=1)
    observer.wait_payload("will/retained", b"retained will", timeout=WILL_TIMEOUT)
    late = observer.make()
    late.subscribe("will/retained", qos=1)
    assert late.wait_payload("will/retained", b"retained will", timeout=3).retain

def test_no_will_on_clean_disconnect(sensor, observer, client_id):
    observer.subscribe("will/#", qos=1)
    sensor.connect(client_id, duration=2, will=("will/clean", b"must not appear", 1, False))
    sensor.disconnect()
    # Wait well past the keep-alive supervision and the upstream teardown.
    time.sleep(5)
    observer.publish("will/clean", b"barrier", qos=1)
    observer.wait_payload("will/clean", b"barrier")
    assert [m.payload for m in observer.on("will/clean")] == [b"barrier"]

def test_will_update_used(sensor, observer, client_id):
    observer.subscribe("will/#", qos=1)
    sensor.connect(client_id, duration=2, will=("will/old", b"old message", 0, False))
    sensor.send(sn.willtopicupd("will/new", qos=1, retain=False))
    sensor.expect(sn.WILLTOPICRESP, return_code=sn.ACCEPTED)
    sensor.send(sn.willmsgupd(b"new message"))
    sensor.expect(sn.WILLMSGRESP, return_code=sn.ACCEPTED)
    m = observer.wait_payload("will/new", b"new message", timeout=WILL_TIMEOUT)
    assert m.qos == 1
    time.sleep(0.5)
    assert not observer.on("will/old"), observer.messages

def test_willmsgupd_alone_keeps_topic(sensor, observer, client_id):
    observer.subscribe("will/#", qos=1)
    sensor.connect(client_id, duration=2, will=("will/keep", b"first", 1, False))
    sensor.send(sn.willmsgupd(b"second"))
    sensor.expect(sn.WILLMSGRESP, return_code=sn.ACCEPTED)
    observer.wait_payload("will/keep", b"second", timeout=WILL_TIMEOUT)
    assert b"first" not in [m.payload for m in observer.on("will/keep")]

def test_empty_willtopicupd_deletes_will(sensor, observer, client_id):
    observer.subscribe("will/#", qos=1)
    sensor.connect(client_id, duration=2, will=("will/deleted", b"must not appear", 1, False))
    sensor.send(sn.willtopicupd(None))  # exactly 2 octets (§5.4.22)
    sensor.expect(sn.WILLTOPICRESP, return_code=sn.ACCEPTED)
    time.sleep(5)  # lost by keep-alive meanwhile
    sensor.pingreq()
    sensor.expect(sn.DISCONNECT)  # proves the session was lost
    observer.publish("will/deleted", b"barrier", qos=1)
    observer.wait_payload("will/deleted", b"barrier")
    assert [m.payload for m in observer.on("will/deleted")] == [b"barrier"]

def test_empty_willtopic_at_connect_means_no_will(sensor, observer, client_id):
    observer.subscribe("will/#", qos=1)
    sensor.send(sn.connect(client_id, 2, will=True))
    sensor.expect(sn.WILLTOPICREQ)
    sensor.send(sn.willtopic(None))
    p = sensor.recv(5)
    if p is not None and p.type == sn.WILLMSGREQ:  # the spec does not say whether it still asks
        sensor.send(sn.willmsg(b"ignored"))
        p = sensor.recv(5)
    assert p is not None and p.type == sn.CONNACK and p.return_code == sn.ACCEPTED, sensor.history()
    time.sleep(5)
    sensor.pingreq()
    sensor.expect(sn.DISCONNECT)
    time.sleep(0.5)
    assert not observer.messages, observer.messages


def test_will_update_survives_while_alive_then_used(sensor, observer, client_id):
    # Same as above, but the sensor stays alive a while after the update (no race with the loss).
    observer.subscribe("will/#", qos=1)
    sensor.connect(client_id, duration=2, will=("will/before", b"before", 1, False))
    sensor.send(sn.willtopicupd("will/after", qos=1, retain=False))
    sensor.expect(sn.WILLTOPICRESP, return_code=sn.ACCEPTED)
    sensor.send(sn.willmsgupd(b"after"))
    sensor.expect(sn.WILLMSGRESP, return_code=sn.ACCEPTED)
    for _ in range(5):
        time.sleep(1.0)
        sensor.pingreq()
        sensor.expect(sn.PINGRESP)
    observer.wait_payload("will/after", b"after", timeout=WILL_TIMEOUT)
    assert not observer.on("will/before"), observer.messages
