#!/usr/bin/env python3
"""Checks that docs/architecture.md is a true map of the code, and that the
code keeps to the module graph of cmake/layers.cmake:

- every `#include "czifs/..."` in src/<m>/ names m or a module m declares
  (a public header: one m declares PUBLIC); every PUBLIC use is included by
  a public header of m (else it is PRIVATE), every declared use by some file;
- tests/<m>/ include only m and what m reaches (through tests/support/ too);
- the module table names every file of src/<m>/ as `stem` in m's row and
  its uses exactly as declared; the drawing puts each module at its level
  (the longest chain of uses below it);
- every path, `file.ext` and `Class::Member` the doc (and docs/design.md)
  names exists, and so does every `Class::Member` and file a comment in
  src/ names.

scripts/check.sh runs it; so does ctest (build.architecture_*).
`--references-only FILE` checks only the names FILE mentions."""
import argparse
import os
import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SRC = ROOT / "src"
INCLUDE = re.compile(r'^\s*#include "([^"]+)"', re.MULTILINE)
TOP_FOLDERS = ("src", "tests", "scripts", "cmake", "docs", "benchmarks", "man", "completion",
               "packaging")
SOURCE_SUFFIXES = (".cc", ".h", ".py", ".sh", ".cmake", ".md", ".txt", ".service", ".mount")


def parse_graph():
    """{module: (public uses, private uses)} in declaration order."""
    text = (ROOT / "cmake" / "layers.cmake").read_text()
    graph = {}
    for m in re.finditer(r"^czifs_uses\(([^)]*)\)", text, re.MULTILINE):
        words = m.group(1).split()
        public, private, mode = [], [], None
        for w in words[1:]:
            if w in ("PUBLIC", "PRIVATE"):
                mode = w
            else:
                (public if mode == "PUBLIC" else private).append(w)
        graph[words[0]] = (public, private)
    return graph


def uses(graph, m):
    return graph[m][0] + graph[m][1]


def reachable(graph, m):
    seen, todo = set(), list(uses(graph, m))
    while todo:
        d = todo.pop()
        if d not in seen:
            seen.add(d)
            todo += uses(graph, d)
    return seen


def levels(graph):
    memo = {}

    def level(m):
        if m not in memo:
            memo[m] = 1 + max((level(d) for d in uses(graph, m)), default=-1)
        return memo[m]

    return {m: level(m) for m in graph}


def header_owner():
    """{'czifs/x.h': module} for every public header."""
    return {f"czifs/{h.name}": h.parts[-4] for h in SRC.glob("*/include/czifs/*.h")}


def rel(path):
    return path.relative_to(ROOT)


def check_src_includes(graph, owner):
    bad = []
    for m in graph:
        folder = SRC / m
        used_by_any, used_by_public = set(), set()
        for path in sorted(folder.rglob("*")):
            if path.suffix not in (".cc", ".h"):
                continue
            public = "include" in path.relative_to(folder).parts
            allowed = {m} | set(graph[m][0] if public else uses(graph, m))
            for inc in INCLUDE.findall(path.read_text(errors="replace")):
                if not inc.startswith("czifs/"):
                    continue
                if inc not in owner:
                    bad.append(f"{rel(path)}: includes {inc}, which no module has")
                    continue
                d = owner[inc]
                if d not in allowed:
                    kind = "PUBLIC " if public and d in uses(graph, m) else ""
                    bad.append(f"{rel(path)}: includes {inc} of {d}, which {m} does not "
                               f"declare as a {kind}use in cmake/layers.cmake")
                if d != m:
                    used_by_any.add(d)
                    if public:
                        used_by_public.add(d)
        for d in graph[m][0]:
            if d not in used_by_public:
                bad.append(f"cmake/layers.cmake: {m} uses {d} PUBLIC, but no public header of "
                           f"{m} includes one of {d}'s: make it PRIVATE")
        for d in uses(graph, m):
            if d not in used_by_any:
                bad.append(f"cmake/layers.cmake: {m} declares a use of {d} but includes "
                           "nothing of it")
    return bad


def support_modules(path, owner, seen=None):
    """The modules a test file includes, through tests/support/ headers too."""
    seen = set() if seen is None else seen
    out = set()
    for inc in INCLUDE.findall(path.read_text(errors="replace")):
        if inc in owner:
            out.add(owner[inc])
            continue
        local = (path.parent / inc).resolve()
        if not local.exists():
            local = ROOT / "tests" / "support" / inc
        if local.exists() and local not in seen and "support" in local.parts:
            seen.add(local)
            out |= support_modules(local, owner, seen)
    return out


def check_test_includes(graph, owner):
    bad = []
    for m in graph:
        folder = ROOT / "tests" / m
        if not folder.is_dir():
            continue
        allowed = {m} | reachable(graph, m)
        for path in sorted(folder.glob("*.cc")):
            for d in sorted(support_modules(path, owner) - allowed):
                bad.append(f"{rel(path)}: uses module {d}, which {m} does not reach: "
                           f"the test belongs in tests/{d}/ or above")
    return bad


def module_rows(doc):
    """{module: (files cell, uses cell)} from the table
    '| module | files | uses | what it does |'."""
    rows = {}
    graph_section = doc.split("## The module graph", 1)[-1].split("\n## ", 1)[0]
    for m in re.finditer(r"^\| (\w+) \| ([^|]*) \| ([^|]*) \|", graph_section, re.MULTILINE):
        rows[m.group(1)] = (m.group(2), m.group(3))
    return rows


def format_uses(public, private):
    parts = [", ".join(public)] if public else []
    if private:
        parts.append("private: " + ", ".join(private))
    return "; ".join(parts) or "—"


def check_table(doc, graph):
    bad = []
    rows = module_rows(doc)
    for m, (public, private) in graph.items():
        if m not in rows:
            bad.append(f"docs/architecture.md: no row for module {m}")
            continue
        files, used = rows[m]
        want = format_uses(public, private)
        if used.strip() != want:
            bad.append(f"docs/architecture.md: the {m} row says it uses '{used.strip()}'; "
                       f"cmake/layers.cmake: '{want}'")
        for path in sorted((SRC / m).rglob("*")):
            if path.suffix in (".cc", ".h") and f"`{path.stem}`" not in files:
                bad.append(f"{rel(path)}: not named as `{path.stem}` in the {m} row of "
                           "docs/architecture.md's module table")
    for m in rows:
        if m not in graph and m != "module":
            bad.append(f"docs/architecture.md: a row for {m}, which is not a module")
    return bad


def check_drawing(doc, graph):
    """The drawing: lines '    <level>  <module> <module>...' in the block
    after '## The module graph'."""
    section = doc.split("## The module graph", 1)
    if len(section) < 2:
        return ["docs/architecture.md: no '## The module graph' section"]
    drawn = {}
    for m in re.finditer(r"^ {4,}(\d+) {2}([a-z ]+?)\s*$", section[1].split("\n## ")[0],
                         re.MULTILINE):
        for name in m.group(2).split():
            drawn[name] = int(m.group(1))
    want = levels(graph)
    if drawn != want:
        return [f"docs/architecture.md: the drawing puts {sorted(drawn.items())}; the graph's "
                f"levels are {sorted(want.items())}"]
    return []


def code_without_comments(text):
    text = re.sub(r"/\*.*?\*/", " ", text, flags=re.DOTALL)
    return "\n".join(line.split("//", 1)[0] for line in text.splitlines())


class Index:
    """What exists: files by path and name, and every member of a czifs type."""

    def __init__(self):
        self.paths = set()
        for folder, subfolders, files in os.walk(ROOT):
            # Build trees and git's store are not the project: not walked.
            subfolders[:] = [d for d in subfolders if not d.startswith(("build", ".git"))]
            base = Path(folder).relative_to(ROOT)
            for name in subfolders + files:
                self.paths.add((base / name).as_posix())
        self.names = {Path(p).name for p in self.paths}
        self.code = {}
        for p in SRC.rglob("*"):
            if p.suffix in (".cc", ".h"):
                self.code[p] = code_without_comments(p.read_text(errors="replace"))
        self.all_code = "\n".join(self.code.values())
        self.types = set(re.findall(r"\b(?:class|struct|enum class|enum|using)\s+(\w+)",
                                    self.all_code))

    def has_member(self, cls, member):
        if re.search(rf"\b{cls}::~?{member}\b", self.all_code):
            return True
        for text in self.code.values():
            for m in re.finditer(rf"\b(?:class|struct|enum class|enum)\s+{cls}\b[^;{{]*\{{",
                                 text):
                body = text[m.end():]
                depth, end = 1, 0
                for end, ch in enumerate(body):
                    depth += {"{": 1, "}": -1}.get(ch, 0)
                    if depth == 0:
                        break
                if re.search(rf"\b{member}\b", body[:end]):
                    return True
        return False

    def system_header(self, name):
        if not hasattr(self, "_system"):
            self._system = {p.name for p in Path("/usr/include").rglob("*.h")}
        return name in self._system

    def has_path(self, path):
        path = path.rstrip("/").split("...")[0].rstrip("/")
        return path in self.paths or any(p.startswith(path + "/") for p in self.paths)


def check_references(text, where, index, only_ours=False):
    """Backticked paths and files, and Class::Member names, in `text`."""
    bad = []
    for token in set(re.findall(r"`([^`\s]+)`", text)) if not only_ours else set():
        head = token.split("/")[0]
        if "<" in token:  # a pattern such as src/<module>/
            continue
        if "/" in token and head in TOP_FOLDERS:
            if not index.has_path(token):
                bad.append(f"{where}: names `{token}`, which does not exist")
        elif re.fullmatch(r"[\w.-]+", token) and token.endswith(SOURCE_SUFFIXES):
            if token not in index.names:
                bad.append(f"{where}: names `{token}`, which does not exist")
    for cls, member in set(re.findall(r"\b([A-Z]\w*)::(~?[A-Za-z_]\w*)\b", text)):
        if cls in index.types and not index.has_member(cls, member.lstrip("~")):
            bad.append(f"{where}: names {cls}::{member}, which does not exist")
    if only_ours:  # comments: a file named that is neither ours nor a system header
        for name in set(re.findall(r"\b([a-z][a-z0-9_]*\.(?:cc|h))\b", text)):
            if name not in index.names and not index.system_header(name):
                bad.append(f"{where}: names {name}, which does not exist")
    return bad


def comments(text):
    return "\n".join(re.findall(r"//(.*)", text) + re.findall(r"/\*(.*?)\*/", text, re.DOTALL))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--references-only", metavar="FILE")
    args = ap.parse_args()
    index = Index()
    if args.references_only:
        path = Path(args.references_only)
        bad = check_references(path.read_text(), path.name, index)
    else:
        graph = parse_graph()
        owner = header_owner()
        doc = (ROOT / "docs" / "architecture.md").read_text()
        bad = (check_src_includes(graph, owner) + check_test_includes(graph, owner) +
               check_table(doc, graph) + check_drawing(doc, graph) +
               check_references(doc, "docs/architecture.md", index) +
               check_references((ROOT / "docs" / "design.md").read_text(), "docs/design.md",
                                index))
        for p in sorted(index.code):
            text = p.read_text(errors="replace")
            bad += check_references(comments(text), str(rel(p)), index, only_ours=True)
    for b in bad:
        print("architecture map: " + b, file=sys.stderr)
    if not bad:
        print("architecture map: the doc, the graph and the code agree")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
