#!/usr/bin/env python3
"""Synthesise the service: ``python infra/app.py`` (writes cdk.out/) or ``npx aws-cdk@2.1148.x synth|deploy``.

Run directly, the app reads the context of cdk.json itself; run by the CDK CLI, it gets it
(plus cdk.context.json and ``-c`` values) from the CLI.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

_INFRA_DIR = Path(__file__).resolve().parent
_REPO_ROOT = _INFRA_DIR.parent
# Run as a script, infra/ is sys.path[0] and infra/constructs would shadow the `constructs` library:
# import everything from the repository root instead.
sys.path[:] = [entry for entry in sys.path if Path(entry or ".").resolve() != _INFRA_DIR]
sys.path.insert(0, str(_REPO_ROOT))

from infra.application import LayerNotBuilt, cdk_json_context, create_app  # noqa: E402


def main() -> int:
    """Synthesise; a missing layer is a one-line error, not a traceback."""
    launched_by_cli = "CDK_CONTEXT_JSON" in os.environ or "CDK_OUTDIR" in os.environ
    context = None if launched_by_cli else cdk_json_context()
    outdir = None if launched_by_cli else str(_REPO_ROOT / "cdk.out")
    try:
        app, _ = create_app(context=context, outdir=outdir)
    except LayerNotBuilt as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    app.synth()
    return 0


if __name__ == "__main__":
    sys.exit(main())
