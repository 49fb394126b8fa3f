#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Check taskscope's JSON output against docs/json/schema.json, with python3's json module only.

  json-validate.py SCHEMA 'OUTPUT' FILE   validate FILE as the output named OUTPUT ("ps --json")
  json-validate.py SCHEMA --doc DOC       every output and field of SCHEMA is named in DOC

The schema is a subset of JSON Schema (type, enum, const, properties, required,
additionalProperties, propertyNames, items, $ref, oneOf) plus "extends". Exit 0 when valid;
else 1, with the path of each fault on stderr.
"""
import json
import re
import sys

TYPES = {
    "object": lambda v: isinstance(v, dict),
    "array": lambda v: isinstance(v, list),
    "string": lambda v: isinstance(v, str),
    "integer": lambda v: isinstance(v, int) and not isinstance(v, bool),
    "number": lambda v: isinstance(v, (int, float)) and not isinstance(v, bool),
    "boolean": lambda v: isinstance(v, bool),
    "null": lambda v: v is None,
}


class Schema:
    def __init__(self, doc):
        self.doc = doc

    def ref(self, r):
        node = self.doc
        for part in r.lstrip("#/").split("/"):
            node = node[part]
        return node

    def resolve(self, s):
        """s with $ref followed and extends merged in."""
        while "$ref" in s:
            s = self.ref(s["$ref"])
        if "extends" in s:
            base = self.resolve(self.ref(s["extends"]))
            s = dict(s)
            s["properties"] = {**base.get("properties", {}), **s.get("properties", {})}
            s["required"] = list(base.get("required", [])) + list(s.get("required", []))
            del s["extends"]
        return s

    def errors(self, v, s, path="$"):
        s = self.resolve(s)
        if "oneOf" in s:
            ok = [alt for alt in s["oneOf"] if not self.errors(v, alt, path)]
            if len(ok) != 1:
                return ["%s: matches %d of the alternatives, not one" % (path, len(ok))]
            return []
        if "const" in s and v != s["const"]:
            return ["%s: %r is not %r" % (path, v, s["const"])]
        if "enum" in s and v not in s["enum"]:
            return ["%s: %r is not one of %r" % (path, v, s["enum"])]
        if "type" in s:
            types = s["type"] if isinstance(s["type"], list) else [s["type"]]
            if not any(TYPES[t](v) for t in types):
                return ["%s: %r is not of type %s" % (path, v, "|".join(types))]
        out = []
        if isinstance(v, dict):
            props = s.get("properties", {})
            for k in s.get("required", []):
                if k not in v:
                    out.append("%s: no %r" % (path, k))
            for k, x in v.items():
                if "propertyNames" in s:
                    out += self.errors(k, s["propertyNames"], "%s{%s}" % (path, k))
                if k in props:
                    out += self.errors(x, props[k], "%s.%s" % (path, k))
                elif s.get("additionalProperties") is False:
                    out.append("%s: %r is not documented" % (path, k))
                elif isinstance(s.get("additionalProperties"), dict):
                    out += self.errors(x, s["additionalProperties"], "%s.%s" % (path, k))
        if isinstance(v, list) and "items" in s:
            for i, x in enumerate(v):
                out += self.errors(x, s["items"], "%s[%d]" % (path, i))
        return out

    def names(self, s=None, seen=None):
        """Every property name the schema defines."""
        found = set()
        for d in self.doc["definitions"].values():
            stack = [d]
            while stack:
                x = stack.pop()
                if isinstance(x, dict):
                    found.update(x.get("properties", {}).keys())
                    stack += list(x.values())
                elif isinstance(x, list):
                    stack += x
        return found


def main(argv):
    schema = Schema(json.load(open(argv[1])))
    if argv[2] == "--doc":
        doc = open(argv[3]).read()
        missing = ["output %r" % o for o in schema.doc["outputs"] if "`%s`" % o not in doc]
        missing += ["field %r" % n for n in sorted(schema.names())
                    if not re.search(r"`%s`" % re.escape(n), doc)]
        for m in missing:
            print("%s: %s is not described" % (argv[3], m), file=sys.stderr)
        return 1 if missing else 0
    out = schema.doc["outputs"][argv[2]]
    text = open(argv[3]).read()
    docs = [l for l in text.splitlines() if l.strip()] if out.get("lines") else [text]
    if not docs:
        print("%s: empty output" % argv[3], file=sys.stderr)
        return 1
    bad = 0
    for n, d in enumerate(docs, 1):
        for e in schema.errors(json.loads(d), out, "line %d: $" % n if out.get("lines") else "$"):
            bad += 1
            if bad <= 20:
                print("%s (%s): %s" % (argv[3], argv[2], e), file=sys.stderr)
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
