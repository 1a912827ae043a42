"""MLLP framing: ``<VT> message <FS><CR>`` over a TCP stream, with a bound on a frame's size."""

from __future__ import annotations

import socket

START, END = b"\x0b", b"\x1c\x0d"


class FrameTooLarge(Exception):
    """A frame grew past the limit before its end: the connection cannot be trusted any more."""


class FrameReader:
    """Read whole frames from a socket.

    Bytes outside a frame are skipped; a start byte inside a frame means the sender gave up on the frame it
    was sending (it was cut) and started another: the cut one is dropped, never stored nor acknowledged.
    """

    def __init__(self, sock: socket.socket, max_bytes: int) -> None:
        self.sock = sock
        self.max_bytes = max_bytes
        self._buf = bytearray()
        self.cut_frames = 0

    def next_frame(self) -> bytes | None:
        """The next whole frame's content, or None when the peer closed the connection (a partial frame is
        dropped).

        Raises
        ------
        FrameTooLarge
            A frame passed ``max_bytes``.
        socket.timeout
            The peer sent nothing for the socket's timeout.
        """
        while True:
            frame = self._take()
            if frame is not None:
                return frame
            chunk = self.sock.recv(1 << 16)
            if not chunk:
                if self._buf.strip(b"\r\n\x00 "):
                    self.cut_frames += 1
                return None
            self._buf += chunk
            if len(self._buf) > self.max_bytes + 3 and END not in self._buf:
                raise FrameTooLarge(f"a frame passed {self.max_bytes} bytes")

    def _take(self) -> bytes | None:
        start = self._buf.find(START)
        if start < 0:
            self._buf.clear()
            return None
        if start:
            del self._buf[:start]
        end = self._buf.find(END)
        if end < 0:
            return None
        again = self._buf.rfind(START, 1, end)
        if again > 0:
            self.cut_frames += 1  # a frame restarted before the last one ended
            del self._buf[:again]
            end = self._buf.find(END)
        frame = bytes(self._buf[1:end])
        del self._buf[: end + len(END)]
        return frame
