import socket, time
from test_attach_ws import pair, create, start, wait_exit, V  # noqa

def raw_attach(d, cid, query, version=V):
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.settimeout(10)
    s.connect(d.sock)
    s.sendall((f"GET {version}/containers/{cid}/attach/ws?{query} HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\n"
               "Upgrade: websocket\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n").encode())
    return s

def read_all(s):
    out = b""
    try:
        while True:
            b = s.recv(65536)
            if not b:
                out += b"<EOF>"
                break
            out += b
    except Exception as e:
        out += f"<{e!r}>".encode()
    return out

def test_debug(pair):
    for name in ("dockerd", "sockerlessd"):
        d, image = pair[name], pair["image"]
        cid = create(d, image, ["sh", "-c", "echo a; echo b >&2"])
        s = raw_attach(d, cid, "stream=1&stdout=1&stderr=1")
        time.sleep(0.5)
        start(d, cid)
        print(name, "live", read_all(s))
        wait_exit(d, cid)
        s = raw_attach(d, cid, "logs=1&stdout=1&stderr=1")
        print(name, "logs", read_all(s))
        s = raw_attach(d, cid, "logs=1&stdout=1&stderr=1", version="/v1.27")
        print(name, "logs127", read_all(s))
        cid = create(d, image, ["sh", "-c", "echo a; echo b >&2"], Tty=True)
        s = raw_attach(d, cid, "stream=1&stdout=1&stderr=1")
        time.sleep(0.5)
        start(d, cid)
        print(name, "tty", read_all(s))
