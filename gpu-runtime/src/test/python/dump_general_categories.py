#!/usr/bin/env python3
"""Writes the Unicode 14.0.0 General_Category of every assigned code point, as ranges, for
io.latentstream.tokenizer.UnicodeCategories.

Why 14.0.0: the reference Rust tokenizers compile their pre-tokenizer regexes with Oniguruma
6.9.8 (onig_sys 69.8.1), whose property tables are Unicode 14.0.0, while Java 17 knows 13.0.0.
Python 3.11's unicodedata is exactly 14.0.0; this script refuses any other version.

Usage (from the repository root):
  python3 gpu-runtime/src/test/python/dump_general_categories.py \
      > gpu-runtime/src/main/resources/io/latentstream/tokenizer/unicode-14.0.0-general-category.txt
"""
import sys
import unicodedata

VERSION = "14.0.0"

if unicodedata.unidata_version != VERSION:
    sys.exit(f"need Unicode {VERSION} data, this Python has {unicodedata.unidata_version}")

print(f"# Unicode {VERSION} General_Category of assigned code points (Cn omitted)")
print("# first last category, hexadecimal, inclusive; written by")
print("# gpu-runtime/src/test/python/dump_general_categories.py")
start = None
current = None
for cp in range(0x110000 + 1):
    category = unicodedata.category(chr(cp)) if cp < 0x110000 else None
    if category != current:
        if current is not None and current != "Cn":
            print(f"{start:X} {cp - 1:X} {current}")
        start, current = cp, category
