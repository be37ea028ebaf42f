"""A small TrueType font cut from a large one in milliseconds: the glyphs of one PDF's text.

matplotlib embeds a subset of every font a PDF uses, made with fontTools when
the file is closed. For the broad CJK font of :mod:`.fontsubset` (7,600 glyphs)
that costs 0.05–0.15 s a PDF, nearly all of it in decoding the tables of every
glyph (horizontal metrics, glyph names, cmap, loca), whatever few glyphs the
page uses. A sheet knows all its text before it is saved, so it can hand
matplotlib a font of just those glyphs instead: :func:`cut_font` copies them out
of the raw tables (no outline is decoded: glyph records are copied as bytes) and
keeps every metric as it was, so text lays out exactly as with the whole font
and the embedded subset holds the same outlines.

It handles what :mod:`.fontsubset` writes (TrueType outlines without composite
glyphs, characters of the Basic Multilingual Plane); anything else is refused
with None, and the caller keeps the whole font.
"""

from __future__ import annotations

import functools
import os
import struct
from pathlib import Path

import numpy as np

from riskmap.export.atomic import atomic_file

__all__ = ["cut_font", "has_chars"]

#: Tables copied as they are (none refers to glyph ids); the others are rebuilt.
_KEEP = ("OS/2", "name", "cvt ", "fpgm", "prep", "gasp")
_NEEDED = ("head", "hhea", "maxp", "hmtx", "cmap", "loca", "glyf", "post")


def cut_font(src: str | Path, chars: str, out: str | Path) -> Path | None:
    """Write a TrueType font of ``chars``' glyphs of ``src`` (and .notdef) to ``out``.

    Parameters
    ----------
    src : str or Path
        A TrueType font (one face, ``glyf`` outlines, e.g. the broad subset of
        :func:`~riskmap.export.fontsubset.prepare_font`).
    chars : str
        The characters to keep; those ``src`` lacks are left out.
    out : str or Path
        Written whole (:func:`~riskmap.export.atomic.atomic_file`), replaced if there.

    Returns
    -------
    Path or None
        ``out``; None where ``src`` is not of the simple kind this handles
        (composite glyphs, no Unicode BMP cmap, a character beyond the BMP), and
        nothing is written.
    """
    font, cps = _font_and_codes(src, chars)
    if font is None or (len(cps) and cps[-1] > 0xFFFF):
        return None
    gids = font.glyph_ids(cps)
    has = gids > 0
    cps, gids = cps[has], gids[has]
    keep = np.unique(np.r_[0, gids])  # the new font's glyphs, in the old order
    starts, ends = font.loca[keep], font.loca[keep + 1]
    n_contours = [struct.unpack_from(">h", font.glyf, s)[0] if e > s else 0
                  for s, e in zip(starts.tolist(), ends.tolist(), strict=True)]
    if min(n_contours) < 0:
        return None  # a composite glyph would refer to glyph ids of the whole font
    data = _build(font, keep, cps, np.searchsorted(keep, gids))
    out = Path(out)
    with atomic_file(out, overwrite=True) as tmp:
        Path(tmp).write_bytes(data)
    return out


def has_chars(src: str | Path, chars) -> bool | None:
    """Whether ``src`` has a glyph for every one of ``chars`` (None: a font it cannot read).

    From the raw cmap, read once per version of the file: milliseconds where
    fontTools decodes a whole CJK cmap in a fifth of a second.
    """
    font, cps = _font_and_codes(src, chars)
    if font is None:
        return None
    if len(cps) and cps[-1] > 0xFFFF:
        return False
    return bool((font.glyph_ids(cps) > 0).all())


def _font_and_codes(src, chars):
    """The parsed ``src`` (None: not a font this reads) and ``chars`` as sorted code points."""
    st = os.stat(src)
    font = _source(os.path.realpath(src), st.st_size, st.st_mtime_ns)
    return font, np.array(sorted({ord(c) for c in chars}), dtype=np.int64)


class _Source:
    """The raw tables of one font file, and the arrays read from them."""

    def __init__(self, tables: dict[str, bytes]):
        self.tables = tables
        head, hhea, maxp = tables["head"], tables["hhea"], tables["maxp"]
        n = struct.unpack_from(">H", maxp, 4)[0]
        long_loca = struct.unpack_from(">h", head, 50)[0] == 1
        loca = np.frombuffer(tables["loca"], ">u4" if long_loca else ">u2", n + 1)
        self.loca = loca.astype(np.int64) * (1 if long_loca else 2)
        self.glyf = tables["glyf"]
        n_long = struct.unpack_from(">H", hhea, 34)[0]
        hmtx = tables["hmtx"]
        pairs = np.frombuffer(hmtx, ">i2", 2 * n_long).reshape(-1, 2)
        self.advance = np.empty(n, np.int64)
        self.lsb = np.empty(n, np.int64)
        self.advance[:n_long] = pairs[:, 0].view(">u2")
        self.advance[n_long:] = self.advance[n_long - 1]
        self.lsb[:n_long] = pairs[:, 1]
        self.lsb[n_long:] = np.frombuffer(hmtx, ">i2", n - n_long, 4 * n_long)
        self.segments = _format4(tables["cmap"])

    def glyph_ids(self, cps: np.ndarray) -> np.ndarray:
        """Glyph id of each code point (0 where the font lacks it), from the format-4 cmap."""
        end, start, delta, ro_pos, ro, gid_array = self.segments
        i = np.searchsorted(end, cps)
        i = np.minimum(i, len(end) - 1)
        inside = (cps >= start[i]) & (cps <= end[i])
        out = np.zeros(len(cps), np.int64)
        direct = inside & (ro[i] == 0)
        out[direct] = (cps[direct] + delta[i[direct]]) & 0xFFFF
        via = inside & (ro[i] != 0)
        if via.any():  # an index into the glyph id array, counted from the idRangeOffset
            j = i[via]
            at = (ro_pos[j] + ro[j] + 2 * (cps[via] - start[j])) // 2
            ok = (at >= 0) & (at < len(gid_array))
            g = np.where(ok, gid_array[np.clip(at, 0, len(gid_array) - 1)], 0)
            out[via] = np.where(g != 0, (g + delta[j]) & 0xFFFF, 0)
        return np.where(out < len(self.advance), out, 0)


@functools.lru_cache(maxsize=4)
def _source(real: str, size: int, mtime: int) -> _Source | None:
    """The font file read once per version (forked drawing workers share it)."""
    data = Path(real).read_bytes()
    version, num = struct.unpack_from(">IH", data, 0)
    if version != 0x00010000:  # a collection, CFF outlines or not a font
        return None
    tables = {}
    for k in range(num):
        tag, _, off, length = struct.unpack_from(">4sIII", data, 12 + 16 * k)
        tables[tag.decode("latin-1")] = data[off:off + length]
    if any(t not in tables for t in _NEEDED) or _format4(tables["cmap"]) is None:
        return None
    return _Source(tables)


def _format4(cmap: bytes):
    """The arrays of the Windows Unicode BMP (3, 1) format-4 subtable, or None."""
    n = struct.unpack_from(">H", cmap, 2)[0]
    for k in range(n):
        plat, enc, off = struct.unpack_from(">HHI", cmap, 4 + 8 * k)
        if (plat, enc) != (3, 1) or struct.unpack_from(">H", cmap, off)[0] != 4:
            continue
        length, _, seg2 = struct.unpack_from(">HHH", cmap, off + 2)
        seg = seg2 // 2
        p = off + 14
        end = np.frombuffer(cmap, ">u2", seg, p).astype(np.int64)
        start = np.frombuffer(cmap, ">u2", seg, p + seg2 + 2).astype(np.int64)
        delta = np.frombuffer(cmap, ">i2", seg, p + 2 * seg2 + 2).astype(np.int64)
        ro_at = p + 3 * seg2 + 2
        ro = np.frombuffer(cmap, ">u2", seg, ro_at).astype(np.int64)
        arr_at = ro_at + seg2
        n_arr = max(0, (off + length - arr_at) // 2)
        gid_array = np.frombuffer(cmap, ">u2", n_arr, arr_at).astype(np.int64)
        # each idRangeOffset counts from its own position; make it count from the array
        ro_pos = np.arange(seg, dtype=np.int64) * 2 - seg2
        return end, start, delta, ro_pos, ro, gid_array
    return None


def _build(font: _Source, keep: np.ndarray, cps: np.ndarray, new_gids: np.ndarray) -> bytes:
    """The font file of glyphs ``keep`` (old ids; new id = position) mapping ``cps``."""
    t = font.tables
    n = len(keep)
    parts, offsets, at = [], [0], 0
    for g in keep.tolist():
        rec = font.glyf[font.loca[g]:font.loca[g + 1]]
        rec += b"\0" * (-len(rec) % 4)
        parts.append(rec)
        at += len(rec)
        offsets.append(at)
    head = bytearray(t["head"])
    struct.pack_into(">I", head, 8, 0)  # checkSumAdjustment: set on the whole file below
    struct.pack_into(">h", head, 50, 1)  # long loca
    hhea = bytearray(t["hhea"])
    struct.pack_into(">H", hhea, 34, n)
    maxp = bytearray(t["maxp"])
    struct.pack_into(">H", maxp, 4, n)
    hmtx = np.empty((n, 2), ">i2")
    hmtx[:, 0] = font.advance[keep].astype(np.uint16).view(np.int16)
    hmtx[:, 1] = font.lsb[keep]
    post = bytearray(t["post"][:32])
    struct.pack_into(">I", post, 0, 0x00030000)  # no glyph names
    tables = {"head": bytes(head), "hhea": bytes(hhea), "maxp": bytes(maxp),
              "hmtx": hmtx.tobytes(), "cmap": _cmap(cps, new_gids),
              "loca": np.array(offsets, ">u4").tobytes(), "glyf": b"".join(parts),
              "post": bytes(post), **{k: t[k] for k in _KEEP if k in t}}
    return _sfnt(tables)


def _cmap(cps: np.ndarray, gids: np.ndarray) -> bytes:
    """A cmap of one (3, 1) format-4 subtable: runs of consecutive codes and glyph ids."""
    if len(cps):
        brk = np.flatnonzero((np.diff(cps) != 1) | (np.diff(gids) != 1)) + 1
        first = np.r_[0, brk]
        last = np.r_[brk - 1, len(cps) - 1]
        start, end = cps[first], cps[last]
        delta = (gids[first] - start) & 0xFFFF
    else:
        start = end = delta = np.zeros(0, np.int64)
    start = np.r_[start, 0xFFFF]
    end = np.r_[end, 0xFFFF]
    delta = np.r_[delta, 1]
    seg = len(start)
    power = 1 << (seg.bit_length() - 1)
    body = b"".join([np.asarray(end, ">u2").tobytes(), b"\0\0",
                     np.asarray(start, ">u2").tobytes(),
                     np.asarray(delta, ">u2").tobytes(), np.zeros(seg, ">u2").tobytes()])
    sub = struct.pack(">HHHHHHH", 4, 14 + len(body), 0, 2 * seg, 2 * power,
                      power.bit_length() - 1, 2 * seg - 2 * power) + body
    return struct.pack(">HHHHI", 0, 1, 3, 1, 12) + sub


def _checksum(data: bytes) -> int:
    data += b"\0" * (-len(data) % 4)
    return int(np.frombuffer(data, ">u4").sum(dtype=np.uint64) & 0xFFFFFFFF)


def _sfnt(tables: dict[str, bytes]) -> bytes:
    """A TrueType file of ``tables`` (sorted records, 4-byte aligned, checksums set)."""
    tags = sorted(tables)
    num = len(tags)
    power = 1 << (num.bit_length() - 1)
    header = struct.pack(">IHHHH", 0x00010000, num, 16 * power, power.bit_length() - 1,
                         16 * num - 16 * power)
    records, blobs = [], []
    at = 12 + 16 * num
    for tag in tags:
        data = tables[tag]
        records.append(struct.pack(">4sIII", tag.encode("latin-1"), _checksum(data), at,
                                   len(data)))
        blob = data + b"\0" * (-len(data) % 4)
        blobs.append(blob)
        at += len(blob)
    out = bytearray(header + b"".join(records) + b"".join(blobs))
    head_at = 12 + 16 * num + sum(len(b) for b, t in zip(blobs, tags, strict=True)
                                  if t < "head")
    adjust = (0xB1B0AFBA - _checksum(bytes(out))) & 0xFFFFFFFF
    struct.pack_into(">I", out, head_at + 8, adjust)
    return bytes(out)
