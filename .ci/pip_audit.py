"""CI: pip-audit over the pinned dependencies; fails on any finding not in .ci/pip-audit-ignore.txt with its
reason, and fails too when the vulnerability service could not be asked about a dependency, so that an
unreachable service is never mistaken for a clean audit.

PIP_AUDIT_SERVICE=osv|pypi (default pypi) picks the service; PIP_AUDIT_ALLOW_UNREACHABLE=1 turns "could not
audit" into a warning, for machines that reach package indexes but not the vulnerability services."""

import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
IGNORE_FILE = ROOT / ".ci" / "pip-audit-ignore.txt"
REQUIREMENTS = ROOT / "requirements" / "dev.lock"
PIP_AUDIT = ROOT / ".venv" / "bin" / "pip-audit"


def accepted() -> dict[str, str]:
    ids: dict[str, str] = {}
    for number, line in enumerate(IGNORE_FILE.read_text(encoding="utf-8").splitlines(), start=1):
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        vuln_id, _, reason = line.partition(" ")
        if not reason.strip():
            sys.exit(f"{IGNORE_FILE.name}:{number}: {vuln_id} has no reason; write why it is accepted.")
        ids[vuln_id] = reason.strip()
    return ids


def main() -> int:
    ignored = accepted()
    service = os.environ.get("PIP_AUDIT_SERVICE", "pypi")
    with tempfile.TemporaryDirectory() as tmp:
        report = Path(tmp) / "audit.json"
        command = [
            str(PIP_AUDIT),
            "--requirement",
            str(REQUIREMENTS),
            "--require-hashes",
            "--disable-pip",
            "--vulnerability-service",
            service,
            "--progress-spinner",
            "off",
            "--format",
            "json",
            "--output",
            str(report),
        ]
        for vuln_id in ignored:
            command += ["--ignore-vuln", vuln_id]
        run = subprocess.run(command, capture_output=True, text=True, check=False)  # noqa: S603
        if not report.exists():
            print(run.stdout, run.stderr, sep="\n", file=sys.stderr)
            print(
                f"pip-audit could not run against the {service} vulnerability service (exit {run.returncode})."
            )
            return _unaudited()
        dependencies = json.loads(report.read_text())["dependencies"]

    findings = [
        f"{dep['name']} {dep['version']}: {vuln['id']} (fixed in {', '.join(vuln['fix_versions']) or 'no release'})"
        for dep in dependencies
        for vuln in dep.get("vulns", [])
        if vuln["id"] not in ignored and not set(vuln.get("aliases", [])) & set(ignored)
    ]
    skipped = [f"{dep['name']}: {dep['skip_reason']}" for dep in dependencies if dep.get("skip_reason")]
    audited = len(dependencies) - len(skipped)
    for vuln_id, reason in ignored.items():
        print(f"accepted: {vuln_id}: {reason}")
    if findings:
        print(
            f"pip-audit: {len(findings)} unexplained finding(s); fix them or explain them in {IGNORE_FILE.name}:"
        )
        print("\n".join(f"  {line}" for line in findings))
        return 1
    if skipped:
        print(
            f"pip-audit: {len(skipped)} of {len(dependencies)} dependencies could NOT be audited by the {service} "
            "vulnerability service (unreachable from this machine, or the package is unknown to it):"
        )
        print("\n".join(f"  {line}" for line in skipped[:10]) + ("\n  …" if len(skipped) > 10 else ""))
        return _unaudited()
    print(f"pip-audit: {audited} dependencies audited against {service}, no unexplained finding.")
    return 0


def _unaudited() -> int:
    if os.environ.get("PIP_AUDIT_ALLOW_UNREACHABLE", "") not in ("", "0", "false"):
        print(
            "WARNING: dependencies NOT audited (PIP_AUDIT_ALLOW_UNREACHABLE is set): this is not a clean audit."
        )
        return 0
    print(
        "FAILED: the audit did not happen. Run CI where pypi.org's JSON API or api.osv.dev is reachable, or set"
    )
    print("PIP_AUDIT_ALLOW_UNREACHABLE=1 to let CI pass without it (and say so).")
    return 2


if __name__ == "__main__":
    sys.exit(main())
