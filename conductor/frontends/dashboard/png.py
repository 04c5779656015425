"""Charts as PNG, for a chat notification or anything that shows images but not SVG.

The same drawing as the SVG (:func:`.svg.draw` onto a rasterizing canvas), written with the
standard library alone (``zlib`` and a PNG encoder of a few lines), so no image library or
browser is needed. Lines are stamped squares, text a built-in 5x7 bitmap font in capitals: crude
next to the SVG, and enough to read a chart in a chat thread. Drawn at twice the SVG's size.
"""

from __future__ import annotations

import itertools
import math
import struct
import zlib

from conductor.frontends.dashboard import svg
from conductor.frontends.dashboard.charts import Chart

SCALE = 2

# 5x7 glyphs, one row per hex digit pair (bit 4 is the leftmost pixel).
_FONT: dict[str, str] = {
    "0": "0E1113151911 0E", "1": "040C040404040E", "2": "0E110102040 81F", "3": "1F020402011 10E",
    "4": "02060A121F0202", "5": "1F101E0101110E", "6": "0608101E11110E", "7": "1F010204080808",
    "8": "0E11110E11110E", "9": "0E11110F01020C", "A": "0E1111111F1111", "B": "1E11111E11111E",
    "C": "0E11101010110E", "D": "1C121111111 21C", "E": "1F10101E10101F", "F": "1F10101E101010",
    "G": "0E1110171111 0F", "H": "1111111F111111", "I": "0E04040404040E", "J": "07020202021 20C",
    "K": "11121418141211", "L": "1010101010101F", "M": "111B1515111111", "N": "11111915131111",
    "O": "0E11111111110E", "P": "1E11111E101010", "Q": "0E111111151 20D", "R": "1E11111E141211",
    "S": "0F10100E01011E", "T": "1F040404040404", "U": "1111111111110E", "V": "11111111110A04",
    "W": "1111111515150A", "X": "11110A040A1111", "Y": "1111110A040404", "Z": "1F01020408101F",
    " ": "00000000000000", "%": "18190204081303", ".": "00000000000C0C", ",": "000000000C0408",
    ":": "000C0C000C0C00", "-": "0000001F000000", "+": "0004041F040400", "/": "00010204081000",
    "(": "02040808080402", ")": "08040202020408", "'": "0C040800000000", "_": "0000000000001F",
    "↑": "040E1504040404", "→": "0004021F020400", "=": "00001F001F0000", ">": "08040201020408",
    "<": "02040810080402", "?": "0E110102040004", "!": "04040404040004", "#": "0A0A1F0A1F0A0A",
    "@": "0E11010D15150E", "—": "0000001F000000", "‹": "02040810080402", "…": "00000000001500",
}


def _rows(code: str) -> list[int]:
    digits = code.replace(" ", "")
    return [int(digits[i:i + 2], 16) for i in range(0, 14, 2)]


_GLYPHS = {ch: _rows(code) for ch, code in _FONT.items()}


def _rgb(color: str) -> tuple[int, int, int]:
    value = color.lstrip("#")
    if len(value) == 3:
        value = "".join(c * 2 for c in value)
    return int(value[0:2], 16), int(value[2:4], 16), int(value[4:6], 16)


class PngCanvas:
    """An RGB raster of the chart at ``SCALE`` x its size."""

    def __init__(self, width: int = svg.WIDTH, height: int = svg.HEIGHT) -> None:
        self.width, self.height = width * SCALE, height * SCALE
        self.pixels = bytearray(b"\xff" * (self.width * self.height * 3))

    def _fill(self, x0: int, y0: int, x1: int, y1: int, rgb: tuple[int, int, int]) -> None:
        x0, y0, x1, y1 = max(x0, 0), max(y0, 0), min(x1, self.width), min(y1, self.height)
        if x1 <= x0 or y1 <= y0:
            return
        row = bytes(rgb) * (x1 - x0)
        for y in range(y0, y1):
            start = (y * self.width + x0) * 3
            self.pixels[start:start + len(row)] = row

    def rect(self, x: float, y: float, w: float, h: float, fill: str, stroke: str = "", *,
             meta: dict[str, str] | None = None, tooltip: str = "") -> None:
        if fill:
            self._fill(round(x * SCALE), round(y * SCALE), round((x + w) * SCALE), round((y + h) * SCALE), _rgb(fill))
        if stroke:
            for a, b, c, d in ((x, y, x + w, y), (x, y + h, x + w, y + h), (x, y, x, y + h), (x + w, y, x + w, y + h)):
                self.line(a, b, c, d, stroke)

    def line(self, x1: float, y1: float, x2: float, y2: float, color: str, width: float = 1.0, dash: str = "",
             *, meta: dict[str, str] | None = None) -> None:
        self.polyline([(x1, y1), (x2, y2)], color, width, dash)

    def polyline(self, points: list[tuple[float, float]], color: str, width: float, dash: str = "", *,
                 meta: dict[str, str] | None = None) -> None:
        rgb = _rgb(color)
        pattern = [float(p) * SCALE for p in dash.split(",")] if dash else []
        half = max(1, round(width * SCALE / 2))
        travelled = 0.0
        for (ax, ay), (bx, by) in itertools.pairwise(points):
            ax, ay, bx, by = ax * SCALE, ay * SCALE, bx * SCALE, by * SCALE
            length = math.hypot(bx - ax, by - ay)
            steps = max(1, math.ceil(length))
            for i in range(steps + 1):
                t = i / steps
                if pattern and (travelled + t * length) % sum(pattern) >= pattern[0]:
                    continue
                x, y = round(ax + (bx - ax) * t), round(ay + (by - ay) * t)
                self._fill(x - half + 1, y - half + 1, x + half, y + half, rgb)
            travelled += length

    def text(self, x: float, y: float, text: str, size: float = 10, color: str = "#222", anchor: str = "start",
             bold: bool = False) -> None:
        text = text.upper()
        pixel = max(1, round(size / 10 * SCALE))
        advance = 6 * pixel
        width = advance * len(text)
        left = round(x * SCALE) - (width if anchor == "end" else width // 2 if anchor == "middle" else 0)
        top = round(y * SCALE) - 7 * pixel
        rgb = _rgb(color)
        for n, ch in enumerate(text):
            rows = _GLYPHS.get(ch, _GLYPHS["?"])
            for r, bits in enumerate(rows):
                for c in range(5):
                    if bits & (0x10 >> c):
                        px, py = left + n * advance + c * pixel, top + r * pixel
                        self._fill(px, py, px + pixel + (1 if bold else 0), py + pixel, rgb)

    def encode(self) -> bytes:
        """The raster as a PNG file (8-bit RGB, no filter, zlib)."""
        stride = self.width * 3
        raw = b"".join(b"\x00" + bytes(self.pixels[y * stride:(y + 1) * stride]) for y in range(self.height))

        def chunk(kind: bytes, data: bytes) -> bytes:
            return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

        header = struct.pack(">IIBBBBB", self.width, self.height, 8, 2, 0, 0, 0)
        return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(raw, 6)) + \
            chunk(b"IEND", b"")


def render(chart: Chart) -> bytes:
    canvas = PngCanvas()
    svg.draw(chart, canvas)
    return canvas.encode()
