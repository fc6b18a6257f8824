"""A timing peer in another process (another venv, another Python): one JSON object per line each way over its
stdin/stdout, one request at a time, every answer awaited with a time limit; and the method object through which
the round-robin timer (``spmm.timing.time_round_robin``) times an engine that lives in the peer."""

from __future__ import annotations

import json
import select
import subprocess
from pathlib import Path
from typing import Optional


class PeerError(RuntimeError):
    """The peer is gone or stuck (did not start, exited, timed out, answered garbage): stop using it."""


class PeerRefused(RuntimeError):
    """The peer answered ``{"ok": false, "error": ...}``: that one request failed, the peer serves on."""


class PeerProcess:
    """``argv`` started with pipes on stdin/stdout; its stderr goes to ``log`` (or is dropped)."""

    def __init__(self, argv: list[str], log: Optional[Path] = None):
        self.argv = [str(a) for a in argv]
        self.log_path = log
        self._log = open(log, "w") if log else subprocess.DEVNULL
        try:
            self.proc = subprocess.Popen(
                self.argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=self._log, text=True, bufsize=1
            )
        except OSError as err:
            self._close_log()
            raise PeerError(f"cannot start {self.argv[0]}: {err}") from err

    def request(self, op: str, timeout: float = 600, **fields) -> dict:
        """Send ``{"op": op, **fields}`` and return the answer (without ``ok``). Raises ``PeerRefused`` when the
        peer says no, ``PeerError`` when it does not answer within ``timeout`` seconds or is gone."""
        if self.proc.poll() is not None:
            raise PeerError(f"peer exited (code {self.proc.returncode}){self._log_hint()}")
        try:
            self.proc.stdin.write(json.dumps({"op": op, **fields}) + "\n")
            self.proc.stdin.flush()
        except OSError as err:
            raise PeerError(f"peer closed its input ({err}){self._log_hint()}") from err
        ready, _, _ = select.select([self.proc.stdout], [], [], timeout)
        if not ready:
            self.kill()
            raise PeerError(f"no answer to {op!r} within {timeout:g} s; peer stopped{self._log_hint()}")
        line = self.proc.stdout.readline()
        if not line:
            self.proc.wait(timeout=10)
            raise PeerError(f"peer exited (code {self.proc.returncode}) during {op!r}{self._log_hint()}")
        try:
            answer = json.loads(line)
        except ValueError as err:
            self.kill()
            raise PeerError(f"peer answered {line.strip()[:200]!r}, not JSON") from err
        if not answer.pop("ok", False):
            raise PeerRefused(answer.get("error") or f"{op!r} failed")
        return answer

    def close(self, timeout: float = 30) -> None:
        """Ask the peer to quit; stop it if it does not."""
        if self.proc.poll() is None:
            try:
                self.request("quit", timeout=timeout)
                self.proc.wait(timeout=timeout)
            except (PeerError, PeerRefused, subprocess.TimeoutExpired):
                self.kill()
        self._close_log()

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()

    def _close_log(self) -> None:
        if self._log is not subprocess.DEVNULL:
            self._log.close()
            self._log = subprocess.DEVNULL

    def _log_hint(self) -> str:
        return f" (its stderr: {self.log_path})" if self.log_path else ""


class PeerMethod:
    """An engine compiled in a peer under ``key``, as a round-robin method: calling it runs the engine once
    (untimed, the timer's warm-up); ``timed_pair`` has the peer time two calls in a row and returns their
    (cold, warm) seconds, measured inside the peer, so the pipe's round trip is not in them."""

    def __init__(self, peer: PeerProcess, key: str, timeout: float = 600):
        self.peer = peer
        self.key = key
        self.timeout = timeout

    def __call__(self) -> None:
        self.peer.request("run", key=self.key, timeout=self.timeout)

    def timed_pair(self) -> tuple[float, float]:
        answer = self.peer.request("time", key=self.key, timeout=self.timeout)
        return answer["cold_s"], answer["warm_s"]
