"""The lab's stand-in for kube-proxy on a node: answers every HTTP GET with the node's name.

It listens on all addresses of the node's network namespace (IPv4 and IPv6); the lab routes the
pool addresses to the namespace's loopback, so traffic for an address reaches whichever node the
client's neighbour cache points at, and the answer tells which node that was.
"""

import http.server
import socket
import sys


class Handler(http.server.BaseHTTPRequestHandler):
    """Replies with the node name and the address the request was sent to."""

    def do_GET(self):  # noqa: N802 (http.server's naming)
        local = self.connection.getsockname()[0].removeprefix("::ffff:")
        body = f"{self.server.node} {local}\n".encode()
        self.send_response(200)
        self.send_header("Content-Type", "text/plain")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


class Server(http.server.ThreadingHTTPServer):
    """A dual-stack listener: one IPv6 socket that also accepts IPv4."""

    address_family = socket.AF_INET6
    daemon_threads = True

    def server_bind(self):
        self.socket.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)
        super().server_bind()


def main():
    node, port = sys.argv[1], int(sys.argv[2])
    server = Server(("::", port), Handler)
    server.node = node
    server.serve_forever()


if __name__ == "__main__":
    main()
