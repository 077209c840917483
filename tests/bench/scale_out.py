"""Figures for docs/scale-out.md: the gateway's file descriptors, threads and memory per sensor in
both modes, and TLS connects with per-sensor certificates (all at once, and one after another).
Real gateway and mosquitto on loopback. Run: MQTTSN_GATEWAY=<builddir>/gateway/mqttsn-gateway
/usr/bin/python3 tests/bench/scale_out.py [sensors] [tls_sensors]"""
import os
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "integration"))
sys.path.insert(0, os.path.join(HERE, "..", "acl"))

from conftest import AclMosquitto, Pki, acl_gateway  # noqa: E402  (tests/acl)
from harness import Gateway, Mosquitto, Sensor  # noqa: E402
import mqttsn_packets as sn  # noqa: E402


def proc_figures(pid):
    fds = len(os.listdir("/proc/%d/fd" % pid))
    threads = len(os.listdir("/proc/%d/task" % pid))
    rss = 0
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmRSS:"):
                rss = int(line.split()[1])
    return fds, threads, rss


def per_sensor(n):
    for mode in ("transparent", "aggregating"):
        b = Mosquitto(tempfile.mkdtemp()).start()
        gw = Gateway(b.uri, workdir=tempfile.mkdtemp(), mode=mode, log_level="info").start()
        f0, t0, r0 = proc_figures(gw.proc.pid)
        sensors = []
        for i in range(n):
            s = Sensor(gw, name="s%d" % i)
            s.connect("fd-%d" % i)
            sensors.append(s)
        time.sleep(1)
        f1, t1, r1 = proc_figures(gw.proc.pid)
        print("%s, %d sensors: fds %d -> %d (%.2f per sensor), threads %d -> %d, RSS %d -> %d KiB "
              "(%.1f KiB per sensor); loss: none (every CONNACK 0x00)"
              % (mode, n, f0, f1, (f1 - f0) / n, t0, t1, r0, r1, (r1 - r0) / n))
        for s in sensors:
            s.close()
        gw.stop()
        b.stop()


def tls_connects(n, sequential_n=5):
    d = tempfile.mkdtemp()
    os.mkdir(d + "/pki")
    pki = Pki(d + "/pki")
    for i in range(n):
        pki.sensor("t%d" % i)
    gc, gk = pki.client("gateway")
    os.mkdir(d + "/m")
    b = AclMosquitto(d + "/m", pki=pki).start()
    os.mkdir(d + "/g")
    gw = acl_gateway("ssl://127.0.0.1:%d" % b.tls_port, d + "/g",
                     tls={"ca_file": pki.ca, "cert_file": gc, "key_file": gk,
                          "cert_file_template": pki.sensors + "/{client_id}.crt",
                          "key_file_template": pki.sensors + "/{client_id}.key"})
    gw.args[gw.args.index("--log-level") + 1] = "info"
    gw.start()
    sensors = [Sensor(gw, name="t%d" % i) for i in range(n)]
    t0 = time.monotonic()
    for i, s in enumerate(sensors):
        s.send(sn.connect("t%d" % i, 60))
    for s in sensors:
        s.expect(sn.CONNACK, timeout=60, return_code=sn.ACCEPTED)
    took = time.monotonic() - t0
    print("per-sensor certificates (EC P-256): %d CONNECTs at once, all CONNACK 0x00 in %.2f s "
          "(%.0f connects/s); loss: none" % (n, took, n / took))
    for s in sensors:
        s.disconnect()
    t0 = time.monotonic()
    for i, s in enumerate(sensors[:sequential_n]):
        s.connect("t%d" % i)
    took = time.monotonic() - t0
    print("per-sensor certificates: %d CONNECTs one after another: %.0f ms each"
          % (sequential_n, 1000 * took / sequential_n))
    for s in sensors:
        s.close()
    gw.stop()
    b.stop()


if __name__ == "__main__":
    per_sensor(int(sys.argv[1]) if len(sys.argv) > 1 else 200)
    tls_connects(int(sys.argv[2]) if len(sys.argv) > 2 else 50)
