#!/usr/bin/env python3
"""Validate one tool's --json output against docs/schema/<tool>.json.

usage: json-validate.py SCHEMA_DIR TOOL FILE
Exit 0 when FILE holds exactly one JSON object that the schema accepts;
1 with the reasons on stderr otherwise; 2 when python3-jsonschema is
missing (ci/install-deps.sh installs it).
"""
import json
import os
import sys

try:
    import jsonschema
except ImportError:
    print("json-validate: python3-jsonschema is not installed "
          "(ci/install-deps.sh)", file=sys.stderr)
    sys.exit(2)


def main():
    sdir, tool, path = sys.argv[1:4]
    schemas = {}
    for name in os.listdir(sdir):
        if name.endswith(".json"):
            with open(os.path.join(sdir, name), encoding="utf-8") as f:
                s = json.load(f)
            schemas[s["$id"]] = s
    root = next(s for s in schemas.values()
                if s["$id"].endswith("/" + tool + ".json"))
    cls = jsonschema.validators.validator_for(root)
    cls.check_schema(root)
    try:  # jsonschema >= 4.18
        from referencing import Registry, Resource
        reg = Registry().with_resources(
            (k, Resource.from_contents(v)) for k, v in schemas.items())
        validator = cls(root, registry=reg)
    except ImportError:  # Debian 12: 4.10
        resolver = jsonschema.RefResolver.from_schema(root, store=schemas)
        validator = cls(root, resolver=resolver)

    with open(path, "rb") as f:
        text = f.read()
    try:
        doc = json.loads(text.decode("utf-8"))
    except (UnicodeDecodeError, ValueError) as e:
        print("json-validate: %s: not one JSON document: %s" % (path, e),
              file=sys.stderr)
        return 1
    errors = sorted(validator.iter_errors(doc), key=lambda e: list(e.path))
    for e in errors:
        # anyOf/oneOf: say what each branch refused
        print("json-validate: %s: %s at /%s" % (
            tool, e.message, "/".join(str(p) for p in e.absolute_path)),
            file=sys.stderr)
        for sub in (e.context or [])[:6]:
            print("    %s at /%s" % (sub.message, "/".join(
                str(p) for p in sub.absolute_path)), file=sys.stderr)
    return 1 if errors else 0


sys.exit(main())
