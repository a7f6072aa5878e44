"""Build the bundled CJK font: a subset of Noto Sans CJK SC Regular with TrueType outlines.

Not used at run time; rerun it only to change which characters the font covers::

    apt-get download fonts-noto-cjk && dpkg-deb -x fonts-noto-cjk_*.deb noto   # OFL 1.1, not installed
    python -m bot.fonts.build noto/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc \\
        --face 2 --standard 通用规范汉字表.txt

Noto Sans CJK ships CFF (PostScript) outlines, which reportlab cannot embed; the subset's curves
are converted to TrueType quadratics (error under 1 unit of 1,000), so one file serves the PDFs
(embedded as a subset) and the charts. What it covers: every character of GB 2312 and of the
Table of General Standard Chinese Characters (通用规范汉字表, 8,105 characters including the
names and places of level 3; ``--standard`` takes a file with one character a line, such as
``U+4E00<TAB>一<TAB>yī``), Latin with its first extension, the punctuation, symbols and full-width forms
Chinese texts use (¥, ㎡, ①, →, ✔ …), and every non-ASCII character in the product's own
texts (``bot/``, ``voting/``). No emoji: documents and charts leave them out (``bot.fonts.drawable``).
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Iterable
from pathlib import Path

FAMILY = "Renovote Sans SC"
HERE = Path(__file__).resolve().parent
OUT = HERE / "RenovoteSansSC-Regular.ttf"

# Blocks of symbols and punctuation taken whole (where the source font has them).
RANGES = (
    (0x0020, 0x007E),  # ASCII
    (0x00A0, 0x017F),  # Latin-1 and Latin Extended-A (¥ ² × ÷ and names in pinyin with tones)
    (0x01CD, 0x01DC),  # pinyin with third-tone carons
    (0x0391, 0x03C9),  # Greek (in GB 2312)
    (0x2010, 0x205E),  # general punctuation
    (0x2100, 0x218F),  # letterlike symbols and number forms (℃ № Ⅰ)
    (0x2190, 0x21FF),  # arrows
    (0x2200, 0x22FF),  # mathematical operators (≥ ≤ ≠)
    (0x2460, 0x24FF),  # enclosed numbers (① ⑴ ⒈)
    (0x2500, 0x257F),  # box drawing
    (0x25A0, 0x25FF),  # geometric shapes (■ □ ▲ ● ◀ ▶)
    (0x2600, 0x26FF),  # miscellaneous symbols (★ ☆), as text glyphs
    (0x2700, 0x27BF),  # dingbats (✔ ✖)
    (0x3000, 0x303F),  # CJK punctuation
    (0x3200, 0x32FF),  # enclosed CJK (㈠ ㊣)
    (0x3300, 0x33FF),  # CJK compatibility (㎡ ㎏)
    (0xFE30, 0xFE4F),  # CJK compatibility forms
    (0xFF00, 0xFFEF),  # full-width forms
)


def gb2312() -> set[str]:
    """Every character GB 2312 encodes (two-byte rows 0xA1-0xF7), from Python's own codec."""
    chars = set()
    for high in range(0xA1, 0xF8):
        for low in range(0xA1, 0xFF):
            try:
                chars.add(bytes((high, low)).decode("gb2312"))
            except UnicodeDecodeError:
                continue
    return chars


def standard_table(path: Path) -> set[str]:
    """The characters of a table with one character a line (``U+4E00<TAB>一<TAB>yī``: the one-character field)."""
    chars = set()
    for line in path.read_text("utf-8").splitlines():
        chars |= {field for field in line.split("\t") if len(field) == 1 and ord(field) > 0x7F}
    return chars


def product_texts(roots: Iterable[Path]) -> set[str]:
    """Every non-ASCII character of the product's texts, catalogues and examples."""
    chars: set[str] = set()
    for root in roots:
        for path in root.rglob("*"):
            if path.suffix in {".py", ".po", ".toml", ".csv", ".html"}:
                chars |= {c for c in path.read_text("utf-8") if ord(c) > 0x7F}
    return chars


def wanted(standard: Path) -> set[str]:
    chars = gb2312() | standard_table(standard) | product_texts((HERE.parent, HERE.parent.parent / "voting"))
    for start, end in RANGES:
        chars |= {chr(c) for c in range(start, end + 1)}
    return chars


def build(source: Path, face: int, chars: set[str], out: Path) -> int:
    """Subset the source face to chars, convert it to TrueType outlines, rename it; return the glyph count."""
    from fontTools import subset
    from fontTools.pens.cu2quPen import Cu2QuPen
    from fontTools.pens.ttGlyphPen import TTGlyphPen
    from fontTools.ttLib import TTFont, newTable

    font = TTFont(source, fontNumber=face)
    options = subset.Options()
    options.layout_features = []  # reportlab and matplotlib do no shaping: only cmap glyphs count
    options.hinting = False
    options.desubroutinize = True
    options.notdef_outline = True
    options.name_IDs = [0, 1, 2, 3, 4, 5, 6, 13, 14]
    options.drop_tables += ["GSUB", "GPOS", "GDEF", "BASE", "JSTF", "vhea", "vmtx", "VORG"]
    subsetter = subset.Subsetter(options)
    subsetter.populate(unicodes=sorted(ord(c) for c in chars))
    subsetter.subset(font)

    order = font.getGlyphOrder()
    glyphs = font.getGlyphSet()
    glyf = newTable("glyf")
    glyf.glyphOrder = order
    glyf.glyphs = {}
    for name in order:
        pen = TTGlyphPen(glyphs)
        glyphs[name].draw(Cu2QuPen(pen, max_err=1.0, reverse_direction=True))
        glyf[name] = pen.glyph()
    font["glyf"] = glyf
    font["loca"] = newTable("loca")
    for table in ("CFF ", "VORG"):
        if table in font:
            del font[table]
    maxp = font["maxp"]
    maxp.tableVersion = 0x00010000
    for field in (
        "maxTwilightPoints",
        "maxStorage",
        "maxFunctionDefs",
        "maxInstructionDefs",
        "maxStackElements",
        "maxSizeOfInstructions",
        "maxComponentElements",
    ):
        setattr(maxp, field, 0)
    maxp.maxZones = 1
    font["head"].glyphDataFormat = 0
    post = font["post"]
    post.formatType = 2.0
    post.extraNames = []
    post.mapping = {}
    post.glyphOrder = order
    font.sfntVersion = "\x00\x01\x00\x00"
    _rename(font)
    font.save(out)
    return len(order)


def _rename(font: object) -> None:
    """A modified version gets its own name (OFL 1.1 §3 asks it for reserved names; we do it for all)."""
    name = font["name"]  # type: ignore[index]
    postscript = FAMILY.replace(" ", "") + "-Regular"
    for record in list(name.names):
        if record.nameID in (1, 4, 16):
            name.setName(
                FAMILY if record.nameID != 4 else f"{FAMILY} Regular",
                record.nameID,
                record.platformID,
                record.platEncID,
                record.langID,
            )
        elif record.nameID == 3:
            name.setName(f"renovote;{postscript}", 3, record.platformID, record.platEncID, record.langID)
        elif record.nameID == 6:
            name.setName(postscript, 6, record.platformID, record.platEncID, record.langID)
        elif record.nameID == 0:
            name.setName(
                "© 2014-2021 Adobe (http://www.adobe.com/). Subset of Noto Sans CJK SC for renovote.",
                0,
                record.platformID,
                record.platEncID,
                record.langID,
            )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("source", type=Path, help="NotoSansCJK-Regular.ttc (or an .otf of one face)")
    parser.add_argument("--face", type=int, default=2, help="face index in the collection (2: Simplified Chinese)")
    parser.add_argument("--standard", type=Path, required=True, help="通用规范汉字表, one character a line")
    parser.add_argument("--out", type=Path, default=OUT)
    args = parser.parse_args(argv)
    chars = wanted(args.standard)
    count = build(args.source, args.face, chars, args.out)
    size = args.out.stat().st_size
    sys.stdout.write(f"{args.out}: {count} glyphs for {len(chars)} characters asked, {size:,} bytes\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
