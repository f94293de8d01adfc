import subprocess, time, json, glob, io, tarfile
def test_dbg(sockerlessd, busybox, tmp_path):
    d = sockerlessd
    r = d.docker("run", "-d", "--name", "xx", busybox, "sleep", "60")
    sock = d.host.replace("unix://", "")
    out = subprocess.run(["curl", "-s", "-D", "/dev/stderr", "--unix-socket", sock, "http://x/containers/xx/archive?path=/etc/hostname"], capture_output=True)
    print(out.stderr.decode(), len(out.stdout), out.stdout[:600])
    print(open(d.stderr_path).read()[-1500:])
