"""Lines of an untrusted text file, read in bounded memory.

A submission is read one line at a time with a byte bound on each line (``readline(limit)``), so
no input can make the reader hold more than one line, however the file is shaped: 67 M line feeds,
one line of 67 M commas, or a header cell of a megabyte all cost the same few hundred bytes.
Problems that make the rest of the file meaningless (a NUL byte, bytes that are not UTF-8, a
carriage return without a line feed, a line over the bound, more bytes than the size limit)
raise ``LineProblem`` with the line they were found on; harmless variations (a UTF-8 byte-order
mark, CRLF line ends) are remembered on the reader for the caller to note.

Lines are numbered as a text editor shows them, from 1.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import BinaryIO, Iterator

BOM = b"\xef\xbb\xbf"
UTF16_BOMS = ((b"\xff\xfe", "UTF-16 little-endian"), (b"\xfe\xff", "UTF-16 big-endian"))
CHUNK = 1 << 20


@dataclass
class LineProblem(Exception):
    code: str
    where: str
    message: str
    evidence: dict = field(default_factory=dict)


class BoundedLines:
    """Iterate ``(line number, line bytes without its line end)`` over ``f``.

    ``max_line`` (bytes, line end excluded) may be changed between lines: a caller that learns the
    expected width from the header tightens it for the rows.  ``max_bytes`` bounds the whole read,
    for a file that grows while it is read.
    """

    def __init__(self, f: BinaryIO, max_line: int, max_bytes: int | None = None):
        self.f, self.max_line, self.max_bytes = f, max_line, max_bytes
        self.number = 0          # the last line handed out
        self.bytes_read = 0
        self.bom = False
        self.crlf = False

    def _account(self, n: int) -> None:
        self.bytes_read += n
        if self.max_bytes is not None and self.bytes_read > self.max_bytes:
            raise LineProblem("file_too_large", "file", f"over the limit of {self.max_bytes:,} bytes "
                              "(the file grew while it was read)", {"limit_bytes": self.max_bytes})

    def __iter__(self) -> Iterator[tuple[int, bytes]]:
        while True:
            raw = self.f.readline(self.max_line + 2)  # + 2: room for "\r\n" after a line of max_line bytes
            if not raw:
                return
            self._account(len(raw))
            self.number += 1
            if self.number == 1:
                for bom, name in UTF16_BOMS:
                    if raw.startswith(bom):
                        raise LineProblem("not_utf8", "file", f"encoded as {name} (byte-order mark "
                                          f"{bom.hex(' ').upper()}); save the CSV as UTF-8", {"encoding": name})
                if raw.startswith(BOM):
                    self.bom, raw = True, raw[len(BOM):]
            yield self.number, self._checked(raw)

    def _checked(self, raw: bytes) -> bytes:
        where = f"line {self.number}"
        nul = raw.find(b"\0")
        if nul >= 0:
            raise LineProblem("binary_file", where, f"binary content (a NUL byte on line {self.number}): not a "
                              "text CSV file (an Excel workbook, a NumPy file, a zip?)",
                              {"line": self.number, "byte_in_line": nul})
        ended = raw.endswith(b"\n")
        body = raw[:-1] if ended else raw
        if ended and body.endswith(b"\r"):
            body, self.crlf = body[:-1], True
        if b"\r" in body:
            raise LineProblem("bad_line_ends", where, f"a carriage return without a line feed at line "
                              f"{self.number} (old Mac line ends?); save with LF or CRLF line ends")
        if len(body) > self.max_line:
            raise LineProblem("line_too_long", where, f"line {self.number} is longer than {self.max_line:,} bytes, "
                              "the most a row of the expected table needs; the rest of the file is not read",
                              {"line": self.number, "limit_bytes": self.max_line})
        if not body.isascii():
            try:
                body.decode("utf-8")
            except UnicodeDecodeError as e:
                raise LineProblem("not_utf8", where, f"not UTF-8: byte 0x{body[e.start]:02X} at line {self.number}, "
                                  f"column {e.start + 1}; save the CSV as UTF-8",
                                  {"line": self.number, "byte_in_line": e.start}) from None
        return body

    def count_rest(self) -> int:
        """How many more lines the file holds, counted in 1 MiB chunks (nothing is kept)."""
        n, last = 0, b"\n"
        while chunk := self.f.read(CHUNK):
            self._account(len(chunk))
            n += chunk.count(b"\n")
            last = chunk[-1:]
        return n + (last != b"\n")
