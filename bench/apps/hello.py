# The WSGI app of the end-to-end benchmarks (bench/e2e.mjs): the same responses as
# hello.mjs, byte for byte (GET .../64k: 64 KiB; POST: "received N bytes\n"; else hello).
HELLO = b"Hello, World!\n"
BIG = b"x" * 65536


def application(environ, start_response):
    if environ["REQUEST_METHOD"] == "POST":
        length = 0
        while True:
            chunk = environ["wsgi.input"].read(65536)
            if not chunk:
                break
            length += len(chunk)
        body = b"received %d bytes\n" % length
    elif environ["PATH_INFO"].endswith("/64k"):
        body = BIG
    else:
        body = HELLO
    start_response("200 OK", [("Content-Type", "text/plain"), ("Content-Length", str(len(body)))])
    return [body]
