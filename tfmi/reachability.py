"""Whether TCP addresses accept connections, within a deadline (no TensorFlow).

Used before work that would otherwise wait without bound on the network: a
multi-worker start-up (``tfmi.worker_startup``) and a tfds download
(``tfmi.data.tfds_utils``).
"""

import socket
import threading
import time
import urllib.parse
import urllib.request

__all__ = ["split_address", "ask_all", "unreachable", "download_address"]


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


def ask_all(addresses, ask, timeout):
    """{address: ask(address)} for each address, asked in parallel threads; the call
    returns within about ``timeout`` seconds, and an address whose ``ask`` has not
    returned by then (e.g. a hanging name lookup) maps to None."""
    results = {}

    def run(address):
        results[address] = ask(address)

    addresses = list(dict.fromkeys(addresses))
    threads = [threading.Thread(target=run, args=(address,), daemon=True) for address in addresses]
    for thread in threads:
        thread.start()
    deadline = time.monotonic() + timeout
    for thread in threads:
        thread.join(max(deadline - time.monotonic(), 0.0))
    return {address: results.get(address) for address in addresses}


def unreachable(addresses, timeout=5.0):
    """{address: reason} for each "host:port" that does not accept a TCP connection
    within ``timeout`` seconds.

    The addresses are tried in parallel and the whole call returns within about
    ``timeout`` seconds, even when a name lookup hangs (such an address counts as
    unreachable: "no answer within T s").
    """
    sentinel = "reachable"
    answers = ask_all(addresses, lambda address: _probe(address, timeout) or sentinel, timeout + 0.5)
    return {
        address: answer or f"no answer within {timeout:g} s"
        for address, answer in answers.items()
        if answer != sentinel
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
