"""The tools' side of each MQTT-SN procedure, against a gateway scripted by hand (no real gateway):
will exchange, REGISTER, QoS 1/2 flows, retransmission with DUP, wildcard REGISTER, sleep/wake."""
import signal
import time

import mqttsn_packets as sn

FAST = ["--retry-interval", "0.3", "--retry-count", "2"]


def suback(topic_id, msg_id, qos=0, return_code=sn.ACCEPTED):
    """§5.4.16: Flags (QoS), TopicId, MsgId, ReturnCode."""
    return sn.frame(sn.SUBACK, bytes([sn.flags(qos=qos), topic_id >> 8, topic_id & 0xFF,
                                      msg_id >> 8, msg_id & 0xFF, return_code]))


def connect_ok(gw, **fields):
    p = gw.expect(sn.CONNECT, **fields)
    gw.send(sn.connack())
    return p


def test_pub_qos1_with_will_register_and_retry(fake_gw, tools, pub_exe):
    t = tools([pub_exe, "-p", fake_gw.port, "-i", "pubtest", "-k", "30", "-t", "a/b", "-q", "1",
               "-r", "-m", "hello", "--will-topic", "w/t", "--will-payload", "bye", "--will-qos", "1",
               "--will-retain"] + FAST)
    fake_gw.expect(sn.CONNECT, client_id="pubtest", duration=30, will=True, clean=True,
                   protocol_id=1)
    fake_gw.send(sn.willtopicreq())
    fake_gw.expect(sn.WILLTOPIC, topic="w/t", qos=1, retain=True)
    fake_gw.send(sn.willmsgreq())
    fake_gw.expect(sn.WILLMSG, msg=b"bye")
    fake_gw.send(sn.connack())
    reg = fake_gw.expect(sn.REGISTER, topic_id=0, topic_name="a/b")
    fake_gw.send(sn.regack(5, reg.msg_id))
    first = fake_gw.expect(sn.PUBLISH, topic_id=5, qos=1, retain=True, dup=False, data=b"hello",
                           topic_id_type=sn.TOPIC_NORMAL)
    assert first.msg_id != 0
    # No PUBACK: the tool resends after Tretry with DUP set (§6.13).
    fake_gw.expect(sn.PUBLISH, timeout=2, msg_id=first.msg_id, dup=True, data=b"hello")
    fake_gw.send(sn.puback(5, first.msg_id))
    fake_gw.expect(sn.DISCONNECT, duration=None)
    fake_gw.send(sn.disconnect())
    code, out = t.finish()
    assert code == 0, t.stderr()
    assert out == b""


def test_pub_qos2_short_topic(fake_gw, tools, pub_exe):
    t = tools([pub_exe, "-p", fake_gw.port, "--short", "ab", "-q", "2", "-m", "x"] + FAST)
    connect_ok(fake_gw, will=False)
    p = fake_gw.expect(sn.PUBLISH, qos=2, topic_id_type=sn.TOPIC_SHORT,
                       topic_id=sn.short_topic_id("ab"), data=b"x")
    fake_gw.send(sn.pubrec(p.msg_id))
    fake_gw.expect(sn.PUBREL, msg_id=p.msg_id)
    fake_gw.send(sn.pubcomp(p.msg_id))
    fake_gw.expect(sn.DISCONNECT)
    fake_gw.send(sn.disconnect())
    code, _ = t.finish()
    assert code == 0, t.stderr()


def test_pub_predefined_from_stdin(fake_gw, tools, pub_exe):
    t = tools([pub_exe, "-p", fake_gw.port, "--predefined", "7", "-q", "0", "-s"] + FAST)
    connect_ok(fake_gw)
    # stdin is /dev/null: an empty message is valid
    fake_gw.expect(sn.PUBLISH, qos=0, topic_id_type=sn.TOPIC_PREDEFINED, topic_id=7, msg_id=0)
    fake_gw.expect(sn.DISCONNECT)
    fake_gw.send(sn.disconnect())
    code, _ = t.finish()
    assert code == 0, t.stderr()


def test_pub_rejections_are_errors(fake_gw, tools, pub_exe):
    t = tools([pub_exe, "-p", fake_gw.port, "-t", "a", "-q", "1", "-m", "x"] + FAST)
    connect_ok(fake_gw)
    reg = fake_gw.expect(sn.REGISTER)
    fake_gw.send(sn.regack(0, reg.msg_id, sn.REJ_CONGESTION))
    code, _ = t.finish()
    assert code == 1
    assert "REGISTER of 'a' rejected by the gateway: rejected:congestion" in t.stderr()


def test_connack_rejected(fake_gw, tools, pub_exe):
    t = tools([pub_exe, "-p", fake_gw.port, "-t", "a", "-m", "x"] + FAST)
    fake_gw.expect(sn.CONNECT)
    fake_gw.send(sn.connack(sn.REJ_CONGESTION))
    code, _ = t.finish()
    assert code == 1
    assert "CONNECT rejected by the gateway: rejected:congestion" in t.stderr()


def test_pub_gives_up_after_retries(fake_gw, tools, pub_exe):
    t = tools([pub_exe, "-p", fake_gw.port, "-t", "a", "-m", "x", "--retry-interval", "0.2",
               "--retry-count", "2"])
    for _ in range(3):
        fake_gw.expect(sn.CONNECT, timeout=2)
    code, _ = t.finish()
    assert code == 1
    assert "no CONNACK from gateway 127.0.0.1:%d after 3 attempts" % fake_gw.port in t.stderr()
    assert fake_gw.recv(0.3) is None


def test_sub_wildcard_register_qos_flows_and_verbose(fake_gw, tools, sub_exe):
    t = tools([sub_exe, "-p", fake_gw.port, "-t", "x/#", "-q", "2", "-v", "-C", "3", "-d"] + FAST)
    connect_ok(fake_gw)
    s = fake_gw.expect(sn.SUBSCRIBE, qos=2, topic=b"x/#", topic_id_type=sn.TOPIC_NORMAL)
    fake_gw.send(suback(0, s.msg_id, qos=2))
    # §6.10: the gateway names each matching topic first.
    fake_gw.send(sn.register(7, 100, "x/y"))
    fake_gw.expect(sn.REGACK, topic_id=7, msg_id=100, return_code=sn.ACCEPTED)
    fake_gw.send(sn.publish(7, b"one", msg_id=101, qos=1))
    fake_gw.expect(sn.PUBACK, topic_id=7, msg_id=101, return_code=sn.ACCEPTED)
    fake_gw.send(sn.publish(7, b"two", msg_id=102, qos=2))
    fake_gw.expect(sn.PUBREC, msg_id=102)
    fake_gw.send(sn.publish(7, b"two", msg_id=102, qos=2, dup=True))  # our PUBREC "was lost"
    fake_gw.expect(sn.PUBREC, msg_id=102)
    fake_gw.send(sn.pubrel(102))
    fake_gw.expect(sn.PUBCOMP, msg_id=102)
    fake_gw.send(sn.publish(99, b"unknown", msg_id=103, qos=1))  # never REGISTERed
    fake_gw.expect(sn.PUBACK, topic_id=99, msg_id=103, return_code=sn.REJ_INVALID_TOPIC_ID)
    fake_gw.send(sn.pingreq())
    fake_gw.expect(sn.PINGRESP)
    fake_gw.send(sn.publish("zz", b"three", qos=0, topic_id_type=sn.TOPIC_SHORT))
    fake_gw.expect(sn.DISCONNECT, duration=None)
    fake_gw.send(sn.disconnect())
    code, out = t.finish()
    assert code == 0, t.stderr()
    assert out == b"x/y one\nx/y two\nzz three\n"
    err = t.stderr()
    assert "sending CONNECT{" in err and "received REGISTER{" in err and "sending REGACK{" in err


def test_sub_sleeps_and_wakes(fake_gw, tools, sub_exe):
    t = tools([sub_exe, "-p", fake_gw.port, "-i", "sleepy", "--short", "ab", "-q", "1", "--sleep", "1",
               "-C", "1"] + FAST)
    connect_ok(fake_gw, client_id="sleepy")
    s = fake_gw.expect(sn.SUBSCRIBE, topic_id_type=sn.TOPIC_SHORT)
    fake_gw.send(suback(sn.short_topic_id("ab"), s.msg_id, qos=1))
    fake_gw.expect(sn.DISCONNECT, duration=1)  # §6.14: asleep for 1 s
    fake_gw.send(sn.disconnect())
    asleep = time.monotonic()
    fake_gw.expect(sn.PINGREQ, timeout=4, client_id="sleepy")
    assert 0.8 < time.monotonic() - asleep < 3.0
    fake_gw.send(sn.pingresp())  # nothing buffered: back to sleep
    asleep = time.monotonic()
    first = fake_gw.expect(sn.PINGREQ, timeout=4, client_id="sleepy")
    assert 0.8 < time.monotonic() - asleep < 3.0
    fake_gw.expect(sn.PINGREQ, timeout=2, client_id="sleepy")  # no answer: Tretry resend
    assert first is not None
    fake_gw.send(sn.publish("ab", b"buffered", msg_id=9, qos=1, topic_id_type=sn.TOPIC_SHORT))
    fake_gw.expect(sn.PUBACK, msg_id=9, return_code=sn.ACCEPTED)
    # -C 1 reached: a normal DISCONNECT ends the session.
    fake_gw.expect(sn.DISCONNECT, duration=None)
    fake_gw.send(sn.disconnect())
    code, out = t.finish()
    assert code == 0, t.stderr()
    assert out == b"buffered\n"


def test_sub_keepalive_pings_and_timeout_without_count(fake_gw, tools, sub_exe):
    t = tools([sub_exe, "-p", fake_gw.port, "--predefined", "3", "-k", "1", "-W", "2"] + FAST)
    connect_ok(fake_gw, duration=1)
    s = fake_gw.expect(sn.SUBSCRIBE, topic_id_type=sn.TOPIC_PREDEFINED)
    fake_gw.send(suback(3, s.msg_id))
    fake_gw.expect(sn.PINGREQ, timeout=2, client_id=None)
    fake_gw.send(sn.pingresp())
    fake_gw.send(sn.publish(3, b"p", qos=0, topic_id_type=sn.TOPIC_PREDEFINED))
    while True:  # more PINGREQs may come before -W ends it
        p = fake_gw.recv(3)
        assert p is not None
        if p.type == sn.DISCONNECT:
            break
        assert p.type == sn.PINGREQ
        fake_gw.send(sn.pingresp())
    fake_gw.send(sn.disconnect())
    code, out = t.finish()
    assert code == 0, t.stderr()
    assert out == b"p\n"


def test_sub_count_not_reached_in_time_is_an_error(fake_gw, tools, sub_exe):
    t = tools([sub_exe, "-p", fake_gw.port, "--short", "ab", "-C", "1", "-W", "1"] + FAST)
    connect_ok(fake_gw)
    s = fake_gw.expect(sn.SUBSCRIBE)
    fake_gw.send(suback(sn.short_topic_id("ab"), s.msg_id))
    fake_gw.expect(sn.DISCONNECT, timeout=3)
    fake_gw.send(sn.disconnect())
    code, _ = t.finish()
    assert code == 1
    assert "timed out after 1 s with 0 of 1 messages" in t.stderr()


def test_sub_sigterm_disconnects_cleanly(fake_gw, tools, sub_exe):
    t = tools([sub_exe, "-p", fake_gw.port, "-t", "a/b"] + FAST)
    connect_ok(fake_gw)
    s = fake_gw.expect(sn.SUBSCRIBE)
    fake_gw.send(suback(1, s.msg_id))
    time.sleep(0.2)
    t.proc.send_signal(signal.SIGTERM)
    fake_gw.expect(sn.DISCONNECT, duration=None)
    fake_gw.send(sn.disconnect())
    code, _ = t.finish()
    assert code == 0, t.stderr()


def test_gateway_disconnect_is_reported(fake_gw, tools, sub_exe):
    t = tools([sub_exe, "-p", fake_gw.port, "-t", "a/b"] + FAST)
    connect_ok(fake_gw)
    s = fake_gw.expect(sn.SUBSCRIBE)
    fake_gw.send(suback(1, s.msg_id))
    fake_gw.send(sn.disconnect())
    code, _ = t.finish()
    assert code == 1
    assert "the gateway ended the session" in t.stderr()
