# Hello world for bench/e2e-uwsgi.mjs: the same response as hello.mjs, byte for byte.
BODY = b"Hello, World!\n"
HEADERS = [("Content-Type", "text/plain"), ("Content-Length", str(len(BODY)))]


def application(environ, start_response):
    start_response("200 OK", HEADERS)
    return [BODY]
