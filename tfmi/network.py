"""Whether TCP addresses accept connections, within a deadline (no TensorFlow).

Used before work that would otherwise wait without bound on the network: a
multi-worker start-up (``tfmi.distribute``) and a tfds download
(``tfmi.data.tfds_utils``).
"""

import socket
import threading
import time
import urllib.parse
import urllib.request

__all__ = ["split_address", "unreachable", "download_address"]


def split_address(address):
    """("host", port) of "host:port" ("[::1]:port" for IPv6); ValueError when malformed."""
    host, separator, port = str(address).rpartition(":")
    host = host[1:-1] if host.startswith("[") and host.endswith("]") else host
    if not separator or not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise ValueError(f"{address!r} is not host:port with a port in 1..65535")
    return host, int(port)


def _probe(address, timeout):
    """None when ``address`` accepts a TCP connection within ``timeout`` s, else the reason."""
    try:
        with socket.create_connection(split_address(address), timeout=timeout):
            return None
    except OSError as error:
        return error.strerror or type(error).__name__


def unreachable(addresses, timeout=5.0):
    """{address: reason} for each "host:port" that does not accept a TCP connection
    within ``timeout`` seconds.

    The addresses are tried in parallel and the whole call returns within about
    ``timeout`` seconds, even when a name lookup hangs (such an address counts as
    unreachable: "no answer within T s").
    """
    results = {}

    def probe(address):
        results[address] = _probe(address, timeout)

    threads = [threading.Thread(target=probe, args=(a,), daemon=True) for a in dict.fromkeys(addresses)]
    for thread in threads:
        thread.start()
    deadline = time.monotonic() + timeout + 0.5
    for thread in threads:
        thread.join(max(deadline - time.monotonic(), 0.0))
    return {
        address: results.get(address, f"no answer within {timeout:g} s")
        for address in dict.fromkeys(addresses)
        if results.get(address, "") is not None
    }


_DEFAULT_PORTS = {"http": 80, "https": 443, "ftp": 21}


def download_address(url):
    """The "host:port" a download of ``url`` connects to: the proxy's when the
    environment sets one for the URL's scheme (and the host is not exempt), else the
    URL's host."""
    parts = urllib.parse.urlsplit(url)
    proxy = urllib.request.getproxies().get(parts.scheme)
    if proxy and not urllib.request.proxy_bypass(parts.hostname or ""):
        proxy_parts = urllib.parse.urlsplit(proxy if "://" in proxy else f"http://{proxy}")
        return f"{proxy_parts.hostname}:{proxy_parts.port or _DEFAULT_PORTS.get(proxy_parts.scheme, 80)}"
    return f"{parts.hostname}:{parts.port or _DEFAULT_PORTS.get(parts.scheme, 443)}"
