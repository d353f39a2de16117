#!/usr/bin/env python3
"""Check OCSF records against the OCSF schema that the PyPI package pydantic-ocsf ships (ocsf/schemas/v1_*.json,
installed by tests/run.sh): every attribute the record's class requires, at every level of nesting, the
classes' and objects' "at least one" / "just one" constraints, enum values, basic types, and
type_uid = class_uid * 100 + activity_id.

Each record is checked against the schema of its metadata.version and, for the requirements, against every
other 1.x schema the package ships (older ones keep some base attributes in include files the package does
not carry: those are checked through the newer versions).

Usage: required.py FILE... (JSON lines; lines without class_uid are skipped). Prints a JSON summary
{"records": N, "classes": [...], "versions": [...]} on stdout; each problem on stderr; exits 1 on any.
"""

import importlib.util
import json
import pathlib
import sys

BASE_TYPES = {
    "integer_t": int,
    "long_t": int,
    "float_t": (int, float),
    "boolean_t": bool,
    "string_t": str,
    "json_t": object,
}


def schema_dir():
    spec = importlib.util.find_spec("ocsf")
    if spec is None or not spec.submodule_search_locations:
        sys.exit("the OCSF schema is missing: pip install pydantic-ocsf==3.0.0 (tests/run.sh does)")
    return pathlib.Path(list(spec.submodule_search_locations)[0]) / "schemas"


class Schema:
    def __init__(self, path):
        s = json.loads(path.read_text())
        self.version = s["version"]
        self.events = s["events"]
        self.objects = s["objects"]
        self.dictionary = s["dictionary"]["attributes"]
        self.types = s["dictionary"]["types"]["attributes"]
        self.categories = s["categories_meta"]["attributes"]

    def resolve(self, table, name):
        """A class's or object's attributes and constraints, its ancestors' first."""
        chain = []
        while name:
            spec = table[name]
            chain.append(spec)
            name = spec.get("extends")
        attrs, constraints = {}, {}
        for spec in reversed(chain):
            for k, a in spec.get("attributes", {}).items():
                if k != "$include":
                    merged = dict(attrs.get(k, {}))
                    merged.update(a)
                    if "enum" in attrs.get(k, {}) and "enum" in a:
                        merged["enum"] = {**attrs[k]["enum"], **a["enum"]}
                    attrs[k] = merged
            constraints.update(spec.get("constraints", {}))
        return attrs, constraints

    def class_named(self, class_uid):
        for name, spec in self.events.items():
            category, s = spec.get("category"), spec
            while not category and s.get("extends"):
                s = self.events[s["extends"]]
                category = s.get("category")
            if category in self.categories and spec.get("uid") is not None:
                if self.categories[category]["uid"] * 1000 + spec["uid"] == class_uid:
                    return name
        return None

    def base_type(self, t):
        while t in self.types and "type" in self.types[t]:
            t = self.types[t]["type"]
        return t


def check(schema, rec, full):
    """Problems of `rec` against `schema`; with `full`, types, enums and unknown attributes too."""
    problems = []
    name = schema.class_named(rec.get("class_uid"))
    if name is None:
        return [f"OCSF {schema.version}: no class with class_uid {rec.get('class_uid')}"]
    attrs, constraints = schema.resolve(schema.events, name)
    walk(schema, name, attrs, constraints, rec, problems, full, top=True)
    if full and rec.get("type_uid") != rec.get("class_uid", 0) * 100 + rec.get("activity_id", -1):
        problems.append(f"{name}: type_uid {rec.get('type_uid')} is not class_uid * 100 + activity_id")
    return [f"OCSF {schema.version} {p}" for p in problems]


def walk(schema, path, attrs, constraints, value, problems, full, top=False):
    if not isinstance(value, dict):
        problems.append(f"{path}: not an object")
        return
    for k, a in attrs.items():
        if a.get("requirement") == "required" and k not in value:
            problems.append(f"{path}: required attribute {k} is missing")
    at_least_one = constraints.get("at_least_one")
    if at_least_one and not any(k in value for k in at_least_one):
        problems.append(f"{path}: needs at least one of {at_least_one}")
    just_one = constraints.get("just_one")
    if just_one and sum(k in value for k in just_one) != 1:
        problems.append(f"{path}: needs exactly one of {just_one}")
    for k, v in value.items():
        if top and k == "unmapped":
            continue
        spec = {**schema.dictionary.get(k, {}), **attrs.get(k, {})}
        if full and k not in attrs and k not in schema.dictionary:
            problems.append(f"{path}: {k} is not an OCSF attribute")
            continue
        t = spec.get("type")
        items = v if spec.get("is_array") else [v]
        if spec.get("is_array") and not isinstance(v, list):
            problems.append(f"{path}.{k}: not an array")
            continue
        for item in items:
            if t in schema.objects:
                o_attrs, o_constraints = schema.resolve(schema.objects, t)
                walk(schema, f"{path}.{k}", o_attrs, o_constraints, item, problems, full)
            elif full and t:
                want = BASE_TYPES.get(schema.base_type(t))
                ok = want is None or (isinstance(item, want) and not (want is int and isinstance(item, bool)))
                if not ok:
                    problems.append(f"{path}.{k}: {item!r} is not a {t}")
        enum = {**schema.dictionary.get(k, {}).get("enum", {}), **attrs.get(k, {}).get("enum", {})}
        if full and k.endswith("_id") and enum and str(v) not in enum:
            problems.append(f"{path}.{k}: {v!r} is not one of {sorted(enum, key=int)}")


def main(files):
    schemas = {p.stem: Schema(p) for p in sorted(schema_dir().glob("v1_*.json"))}
    if not schemas:
        sys.exit("no OCSF 1.x schema in the package")
    records, classes, problems = 0, set(), []
    for f in files:
        for n, line in enumerate(pathlib.Path(f).read_text().splitlines(), 1):
            if not line.strip():
                continue
            rec = json.loads(line)
            if "class_uid" not in rec:
                continue
            records += 1
            classes.add(rec["class_uid"])
            declared = "v" + str(rec.get("metadata", {}).get("version", "")).replace(".", "_")
            if declared not in schemas:
                problems.append(f"{f}:{n}: metadata.version {declared} is not a schema the package ships")
                continue
            for key, schema in schemas.items():
                for p in check(schema, rec, full=key == declared):
                    problems.append(f"{f}:{n}: {p}")
    for p in problems:
        print(p, file=sys.stderr)
    print(json.dumps({"records": records, "classes": sorted(classes), "versions": sorted(s.version for s in schemas.values())}))
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
