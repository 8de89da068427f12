"""Regenerate the repository's customers/ (the three pilot customers) with the tool itself.

    python benchmarks/regenerate_pilot_customers.py

Runs `unmo onboard --from unmo_cli/data/pilot-customers.yaml` with the repository root as the
workspace (so the top-level templates/ are used), a throw-away database and UNMO_NOW pinned to
the pilot sprint, then deletes the generated .env files: secret keys never go to git.
tests/test_customer_pilots.py proves the committed folders equal what the templates produce."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PILOTS = ROOT / "unmo_cli" / "data" / "pilot-customers.yaml"
PINNED_NOW = "2025-10-22T09:00:00Z"
SLUGS = ("techstart-mobile", "ecomgrowth-labs", "financetrack-pro")


def main() -> int:
    for slug in SLUGS:
        shutil.rmtree(ROOT / "customers" / slug, ignore_errors=True)
    with tempfile.TemporaryDirectory() as scratch:
        env = {k: v for k, v in os.environ.items() if not k.startswith("UNMO_")}
        env.update(UNMO_WORKSPACE=str(ROOT), UNMO_NOW=PINNED_NOW,
                   UNMO_DATABASE_URL=f"sqlite:///{scratch}/pilots.db")
        done = subprocess.run([sys.executable, "-m", "unmo_cli", "onboard", "--from", str(PILOTS),
                               "--yes"], env=env, cwd=ROOT)
        if done.returncode:
            return done.returncode
    for slug in SLUGS:
        (ROOT / "customers" / slug / ".env").unlink(missing_ok=True)
    print(f"regenerated customers/ ({', '.join(SLUGS)}) without .env files")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
