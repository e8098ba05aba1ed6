"""Run the app with uvicorn on a socket bound here, so the address printed is the one really listened on (port 0
picks a free port)."""

from __future__ import annotations

import socket
import threading
import time

from instill.errors import InstillError
from instill.inference.chat_model import ChatModel
from instill.serve.app import ServeSettings, create_app


def bind(host: str, port: int) -> socket.socket:
    """A listening TCP socket on host:port, or a one-line error (port taken, unknown host). It listens before the
    app is up, so a client that connects as soon as the address is printed waits instead of being refused."""
    try:
        family = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)[0][0]
        sock = socket.socket(family, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((host, port))
        sock.listen(2048)
    except OSError as e:
        raise InstillError(f"cannot listen on {host}:{port}: {e.strerror or e}") from None
    return sock


def url_of(sock: socket.socket) -> str:
    host, port = sock.getsockname()[:2]
    return f"http://{'[' + host + ']' if ':' in host else host}:{port}"


def run_server(cm: ChatModel, settings: ServeSettings, host: str = "127.0.0.1", port: int = 8000,
               access_log: bool = True) -> None:
    """Serve until interrupted (Ctrl-C shuts down cleanly)."""
    import uvicorn

    sock = bind(host, port)
    print(f"instill serve: '{settings.model_name}' at {url_of(sock)}/v1", flush=True)
    config = uvicorn.Config(create_app(cm, settings), log_level="info", access_log=access_log,
                            timeout_graceful_shutdown=5)
    uvicorn.Server(config).run(sockets=[sock])


class ServerThread:
    """The app served from a background thread on a free loopback port, for tests and notebooks:

        with ServerThread(create_app(cm, settings)) as url:
            OpenAI(base_url=url + "/v1", api_key=...)
    """

    def __init__(self, app: object, host: str = "127.0.0.1") -> None:
        import uvicorn

        self.sock = bind(host, 0)
        self.url = url_of(self.sock)
        self.server = uvicorn.Server(uvicorn.Config(app, log_level="warning", access_log=False))
        self.thread = threading.Thread(target=self.server.run, kwargs={"sockets": [self.sock]}, daemon=True)

    def __enter__(self) -> str:
        self.thread.start()
        deadline = time.monotonic() + 30
        while not self.server.started:  # startup (lifespan included) takes milliseconds
            if not self.thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError("the server did not start")
            time.sleep(0.01)
        return self.url

    def __exit__(self, *exc: object) -> None:
        self.server.should_exit = True
        self.thread.join(10)
        self.sock.close()
