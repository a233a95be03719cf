#!/usr/bin/env python3
"""Checks the shape of src/: no file over 600 lines, no function over 100
lines, no module folder over 15 % of the code (scripts/check_map.py checks
that docs/architecture.md names every file). Prints the figures; exits 1 on a
breach. Functions are found with clang's AST (clang -Xclang
-ast-dump=json would be exact but slow); here a brace matcher over the
formatted sources is enough: a function body starts at a line ending in '{'
whose text has a ')' and is not a control statement, and ends at its
matching brace."""
import re
import sys
from pathlib import Path

MAX_FILE_LINES = 600
MAX_FUNCTION_LINES = 100
MAX_FOLDER_SHARE = 0.15
CONTROL = re.compile(r"^\s*(if|for|while|switch|else|do|catch|try)\b|^\s*\}?\s*else\b")


def strip(line):
    line = re.sub(r'"(\\.|[^"\\])*"', '""', line)
    line = re.sub(r"'(\\.|[^'\\])*'", "''", line)
    return line.split("//", 1)[0]


def functions(path):
    lines = [strip(l) for l in path.read_text(errors="replace").splitlines()]
    out = []
    i = 0
    while i < len(lines):
        text = lines[i].rstrip()
        # A definition: "... ) ... {" at the end of a line, at namespace or class depth.
        if text.endswith("{") and ")" in text and not CONTROL.search(text) and "=" not in text.split("(")[0] and "[" not in text.split("(")[0]:
            # the signature may begin on earlier lines
            start = i
            while start > 0 and lines[start - 1].strip() and not lines[start - 1].rstrip().endswith((";", "{", "}", ":")) and not lines[start - 1].lstrip().startswith(("#", "//")):
                start -= 1
            depth = 0
            j = i
            while j < len(lines):
                depth += lines[j].count("{") - lines[j].count("}")
                if depth <= 0:
                    break
                j += 1
            name = re.search(r"([\w:~]+)\s*\(", " ".join(l.strip() for l in lines[start:i + 1]))
            out.append((name.group(1) if name else "?", start + 1, j - start + 1))
            i = j + 1
            continue
        i += 1
    return out


def main():
    root = Path(__file__).resolve().parent.parent / "src"
    bad = []
    folder_lines = {}
    total = 0
    for path in sorted(root.rglob("*")):
        if path.suffix not in (".cc", ".h"):
            continue
        n = len(path.read_text(errors="replace").splitlines())
        total += n
        module = path.relative_to(root).parts[0]
        folder_lines[module] = folder_lines.get(module, 0) + n
        rel = path.relative_to(root.parent)
        if n > MAX_FILE_LINES:
            bad.append(f"{rel}: {n} lines (limit {MAX_FILE_LINES})")
        for name, line, length in functions(path):
            if length > MAX_FUNCTION_LINES:
                bad.append(f"{rel}:{line}: {name} is {length} lines (limit {MAX_FUNCTION_LINES})")
    print(f"code shape: {total} lines in src/")
    for module, n in sorted(folder_lines.items(), key=lambda kv: -kv[1]):
        share = n / total
        print(f"  src/{module:8s} {n:6d} lines  {share:5.1%}")
        if share > MAX_FOLDER_SHARE:
            bad.append(f"src/{module}: {share:.1%} of the code (limit {MAX_FOLDER_SHARE:.0%})")
    for b in bad:
        print("code shape: " + b, file=sys.stderr)
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
