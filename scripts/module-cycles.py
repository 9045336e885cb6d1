#!/usr/bin/env python3
"""Fails when a module of a workspace crate imports a module that (directly or through
others) imports it. Reads `crate::a::b` paths in each crate's src/ (test modules excluded),
maps each to the longest module it names, and reports every strongly connected component
of more than one module. A module using its own submodules' items through `self::` or
`mod` declarations is not an import; a submodule naming its parent (`crate::parent::X`) is."""
import os
import re
import sys


def module_of(root, path):
    parts = os.path.relpath(path, root)[:-3].split(os.sep)
    if parts[-1] in ("mod", "lib", "main"):
        parts = parts[:-1]
    return "::".join(parts)


def imports(root):
    mods = {}
    for d, _, files in os.walk(root):
        for f in files:
            if f.endswith(".rs"):
                path = os.path.join(d, f)
                src = re.split(r"#\[cfg\(test\)\]", open(path, encoding="utf-8").read())[0]
                src = re.sub(r"//[^\n]*", "", src)
                mods[module_of(root, path)] = set(re.findall(r"crate::([a-z_][a-z_0-9]*(?:::[a-z_][a-z_0-9]*)*)", src))
    names = set(mods)

    def resolve(path):
        parts = path.split("::")
        for i in range(len(parts), 0, -1):
            candidate = "::".join(parts[:i])
            if candidate in names:
                return candidate
        return None

    return {m: {resolve(p) for p in paths} - {None, m, ""} for m, paths in mods.items()}


def cycles(graph):
    index, low, stack, on, out = {}, {}, [], set(), []

    def visit(v):
        index[v] = low[v] = len(index)
        stack.append(v)
        on.add(v)
        for w in graph.get(v, ()):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                out.append(sorted(component))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return out


failed = False
for crate in sys.argv[1:]:
    root = os.path.join(crate, "src")
    if os.path.isdir(root):
        for component in cycles(imports(root)):
            print(f"{crate}: modules import each other: {' <-> '.join(component)}")
            failed = True
sys.exit(1 if failed else 0)
