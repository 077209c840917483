"""CONNECT -> CONNACK on an idle gateway: N sensors one after the other, PAUSE s apart.

MQTTSN_GATEWAY=<gateway binary> /usr/bin/python3 tests/bench/idle_connect.py N PAUSE (docs/benchmarks.md)
"""
import os, statistics, sys, tempfile, time
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "integration"))
from harness import Gateway, Mosquitto, Sensor  # noqa: E402
import mqttsn_packets as sn  # noqa: E402

N, PAUSE = int(sys.argv[1]), float(sys.argv[2])
d = tempfile.mkdtemp()
b = Mosquitto(d).start()
gw = Gateway(b.uri, workdir=d).start()
time.sleep(2)  # idle: the gateway's own client connected, nothing else
lat = []
for i in range(N):
    s = Sensor(gw, name="idle%d" % i)
    t = time.monotonic()
    s.send(sn.connect("idle-%d-%d" % (os.getpid(), i), 60))
    s.expect(sn.CONNACK, timeout=10, return_code=sn.ACCEPTED)
    lat.append((time.monotonic() - t) * 1000)
    s.close()
    time.sleep(PAUSE)
gw.stop()
b.stop()
lat.sort()
print("n=%d p50=%.1f ms p90=%.1f ms max=%.1f ms min=%.1f ms" % (
    N, statistics.median(lat), lat[int(0.9 * (N - 1))], lat[-1], lat[0]))
