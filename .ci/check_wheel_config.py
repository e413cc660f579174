"""Check pyproject's [tool.cibuildwheel] the way cibuildwheel reads it.

Usage: python .ci/check_wheel_config.py TOOLS_VENV

- the table against cibuildwheel's own JSON schema (a misspelt key fails
  here, where cibuildwheel would ignore it or stop on the hosting CI);
- the wheels cibuildwheel would build on each platform are exactly
  CPython 3.10-3.13 for Linux x86_64 and aarch64 (manylinux) and x86_64
  (musllinux), macOS x86_64 and arm64, Windows AMD64.
"""
import json
import os
import subprocess
import sys
import tempfile
import tomllib

tools = sys.argv[1]
bindir = os.path.join(tools, "Scripts" if os.name == "nt" else "bin")
with open("pyproject.toml", "rb") as fh:
    config = tomllib.load(fh)["tool"]["cibuildwheel"]

import cibuildwheel  # noqa: E402  (from the tools venv: sys.executable is its python)
schema = os.path.join(os.path.dirname(cibuildwheel.__file__), "resources", "cibuildwheel.schema.json")
with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False) as fh:
    json.dump(config, fh)
subprocess.run([os.path.join(bindir, "check-jsonschema"), "--schemafile", schema, fh.name],
               check=True)
os.unlink(fh.name)

pythons = ["cp310", "cp311", "cp312", "cp313"]
expected = {
    "linux": {f"{py}-{tag}" for py in pythons
              for tag in ("manylinux_x86_64", "manylinux_aarch64", "musllinux_x86_64")},
    "macos": {f"{py}-macosx_{arch}" for py in pythons for arch in ("x86_64", "arm64")},
    "windows": {f"{py}-win_amd64" for py in pythons},
}
env = {k: v for k, v in os.environ.items() if not k.startswith("CIBW_")}
failed = False
for platform, want in expected.items():
    out = subprocess.run([os.path.join(bindir, "cibuildwheel"), "--print-build-identifiers",
                          "--platform", platform, "."], check=True, capture_output=True,
                         text=True, env=env).stdout.split()
    print(f"cibuildwheel {platform}: {' '.join(out)}")
    if set(out) != want:
        failed = True
        print(f"  expected {sorted(want)}")
if failed:
    sys.exit("the cibuildwheel configuration builds other wheels than intended")
print("cibuildwheel configuration: ok")
