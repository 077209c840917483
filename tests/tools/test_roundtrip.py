"""Round trips through the real mqttsn-gateway and mosquitto: mqttsn-pub -> gateway -> broker,
broker -> gateway -> mqttsn-sub, pub -> sub, and a sleeping mqttsn-sub that gets a message
published while it slept."""
import pytest

from conftest import run

FAST = ["--retry-interval", "1", "--retry-count", "3"]


def gw_args(gateway):
    return ["-h", "127.0.0.1", "-p", str(gateway.port)] + FAST


def start_sub(tools, sub_exe, gateway, *args):
    """Starts mqttsn-sub with -d and returns once its SUBACK arrived (the subscription is live)."""
    t = tools([sub_exe] + gw_args(gateway) + ["-d"] + list(args))
    t.wait_stderr("received SUBACK{", timeout=15)
    return t


@pytest.mark.parametrize("qos", [0, 1, 2])
def test_pub_topic_name_reaches_the_broker(gateway, observer, pub_exe, qos):
    topic = "tools/pub/q%d" % qos
    observer.subscribe(topic)
    r = run([pub_exe] + gw_args(gateway) + ["-t", topic, "-q", str(qos), "-m", "hello %d" % qos])
    assert r.returncode == 0, r.stderr
    m = observer.wait_payload(topic, "hello %d" % qos)
    assert m.retain is False


def test_pub_retained(gateway, observer, pub_exe):
    r = run([pub_exe] + gw_args(gateway) + ["-t", "tools/retained", "-q", "1", "-r", "-m", "kept"])
    assert r.returncode == 0, r.stderr
    observer.subscribe("tools/retained")  # after the publish: the broker hands us the retained copy
    m = observer.wait_payload("tools/retained", "kept")
    assert m.retain is True


def test_pub_qos_minus_one_predefined(gateway, observer, pub_exe):
    # harness.PREDEFINED: 1 -> sensors/predefined/one
    observer.subscribe("sensors/predefined/one")
    r = run([pub_exe] + gw_args(gateway) + ["-q", "-1", "--predefined", "1", "-m", "no connect"])
    assert r.returncode == 0, r.stderr
    observer.wait_payload("sensors/predefined/one", "no connect")


def test_pub_short_topic(gateway, observer, pub_exe):
    observer.subscribe("ab")
    r = run([pub_exe] + gw_args(gateway) + ["--short", "ab", "-q", "1", "-m", "short"])
    assert r.returncode == 0, r.stderr
    observer.wait_payload("ab", "short")


def test_broker_to_sub_wildcard(gateway, observer, tools, sub_exe):
    t = start_sub(tools, sub_exe, gateway, "-t", "tools/sub/#", "-q", "1", "-v", "-C", "2")
    observer.publish("tools/sub/a", "first", qos=1)
    observer.publish("tools/sub/b/c", "second", qos=0)
    code, out = t.finish()
    assert code == 0, t.stderr()
    assert out == b"tools/sub/a first\ntools/sub/b/c second\n"
    assert "received REGISTER{" in t.stderr()  # wildcard: topics named by the gateway (§6.10)


def test_pub_to_sub_through_the_gateway(gateway, tools, pub_exe, sub_exe):
    t = start_sub(tools, sub_exe, gateway, "-t", "tools/e2e", "-q", "2", "-C", "1")
    r = run([pub_exe] + gw_args(gateway) + ["-t", "tools/e2e", "-q", "2", "-m", "end to end"])
    assert r.returncode == 0, r.stderr
    code, out = t.finish()
    assert code == 0, t.stderr()
    assert out == b"end to end\n"


def test_sleeping_sub_gets_what_was_published_while_asleep(gateway, observer, tools, sub_exe):
    t = start_sub(tools, sub_exe, gateway, "-i", "tools-sleepy", "-t", "tools/sleep", "-q", "1",
                  "--sleep", "2", "-C", "1", "-W", "30")
    asleep = t.wait_stderr("received DISCONNECT{", timeout=10)  # the gateway acked our sleep
    observer.publish("tools/sleep", "while you slept", qos=1)
    code, out = t.finish(timeout=30)
    assert code == 0, t.stderr()
    assert out == b"while you slept\n"
    # The message came after a wake-up PINGREQ carrying our ClientId, not while we were awake.
    wake = t.wait_stderr("sending PINGREQ{", after=asleep)
    got = t.wait_stderr("received PUBLISH{", after=asleep)
    assert wake < got, t.stderr()
    assert "tools-sleepy" in t.err_lines[wake][1]
