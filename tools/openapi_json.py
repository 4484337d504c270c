#!/usr/bin/env python3
"""Writes openapi.json from openapi.yaml (the document; the JSON is its copy for clients
that read no YAML). The daemon embeds both at build time and serves them as
/openapi.yaml and /openapi.json; tests/test_workbench.py fails when they disagree.

    python3 tools/openapi_json.py          # rewrite openapi.json
    python3 tools/openapi_json.py --check  # exit 1 if it is stale
"""
import json
import sys
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parent.parent


def rendered():
    return json.dumps(yaml.safe_load((ROOT / "openapi.yaml").read_text()), indent=2, ensure_ascii=False) + "\n"


def main():
    target = ROOT / "openapi.json"
    if sys.argv[1:] == ["--check"]:
        if not target.exists() or target.read_text() != rendered():
            print("openapi.json is stale: run python3 tools/openapi_json.py", file=sys.stderr)
            return 1
        return 0
    target.write_text(rendered())
    return 0


if __name__ == "__main__":
    sys.exit(main())
