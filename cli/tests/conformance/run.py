"""Differential AWS conformance: the same boto3 scenario against moto (server mode) and a
running Kumo; every response's shape compared (run by cli/tests/conformance.rs).

Usage: run.py KUMO_ENDPOINT KUMO_STATE_DIR REPO_ROOT

For each call both clouds answered, the raw bodies become sets of element paths with a
type per leaf (shapes.py). A finding is one of:
  missing  an element path moto returns and Kumo does not                     FAIL
  unknown  an element Kumo returns that is not in botocore's output shape      FAIL
  type     a Kumo leaf whose text does not parse as the model's type           FAIL
  status   one cloud succeeded where the other failed, or the error codes differ FAIL
  extra    a path Kumo returns and moto does not (informational)
  leaf     the same path with different leaf types (informational)
  moto-only  a path moto returns that botocore's model does not know (informational:
           moto's invention is not asked of Kumo)
A FAIL is forgiven when allow-list.toml lists it (kind, operation, path prefix) with a
reason and the issue that brings it; an allow-list entry that matches nothing fails too,
so that fixed gaps leave the list. Exit status 1 on any unforgiven finding.
"""
import fnmatch
import os
import re
import sys
import tomllib
import traceback

import scenario
import shapes
from targets import Kumo, Moto, Recorder

kumo_endpoint, kumo_state, repo_root = sys.argv[1:4]
HERE = os.path.dirname(os.path.abspath(__file__))
FAILING = ("missing", "unknown", "type", "status")
INFORMATIONAL = ("extra", "leaf", "moto-only")


def run_on(target):
    rec = Recorder(target)
    try:
        scenario.run(rec, target)
    except Exception:  # noqa: BLE001 - report, then compare what was recorded
        print(f"SCENARIO BROKE on {target.name}:\n{traceback.format_exc()}", flush=True)
        raise
    dump = os.environ.get("KUMO_CONFORMANCE_DUMP")
    if dump:
        # Every raw answer, for reading: DIR/<cloud>/<nnn>-<label>.xml
        os.makedirs(os.path.join(dump, target.name), exist_ok=True)
        for n, call in enumerate(rec.calls):
            name = re.sub(r"[^A-Za-z0-9#.-]", "_", call.label)
            with open(os.path.join(dump, target.name, f"{n:03}-{name}.xml"), "wb") as f:
                f.write(f"<!-- {call.status} {call.headers} -->\n".encode() + (call.body or b""))
    return rec.calls


def analyse(call):
    """(shape, model problems, paths the model knows or None) of one answer: its XML body
    (an S3 success's root renamed "(root)") plus, for S3, the modelled headers."""
    root = shapes.parse(call.body)
    shape = shapes.paths(root)
    problems, known = [], None
    if call.error_code is None and root is not None:
        problems, known = shapes.check_against_model(root, call.operation_model, protocol_of(call))
    if call.service == "s3" and call.error_code is None:
        shape = shapes.renamed_root(shape, "(root)")
        known = shapes.renamed_root(known, "(root)") if known is not None else None
        if call.status is not None:
            shape.update(shapes.modelled_headers(call.operation_model, call.headers))
    return shape, problems, known


def protocol_of(call):
    return call.operation_model.service_model.protocol


def outcome(call):
    return f"error {call.error_code}" if call.error_code else "ok"


def compare(moto_call, kumo_call):
    """Findings for one pair of answers: [(kind, path, detail)]."""
    findings = []
    if outcome(moto_call) != outcome(kumo_call):
        findings.append(("status", "", f"moto: {outcome(moto_call)} ({moto_call.status}), kumo: {outcome(kumo_call)} ({kumo_call.status})"))
    moto_shape, _, moto_known = analyse(moto_call)
    kumo_shape, kumo_problems, _ = analyse(kumo_call)
    # Compare only like with like: a success with a success, an error with an error.
    if (moto_call.error_code is None) == (kumo_call.error_code is None):
        for path in sorted(set(moto_shape) - set(kumo_shape)):
            if moto_known is not None and not path.startswith("@") and path not in moto_known:
                # moto's own invention: not in the model, so not asked of Kumo.
                findings.append(("moto-only", path, "moto's element is not in the model"))
            else:
                findings.append(("missing", path, f"moto: {shapes.type_text(moto_shape[path])}"))
        for path in sorted(set(kumo_shape) - set(moto_shape)):
            findings.append(("extra", path, f"kumo: {shapes.type_text(kumo_shape[path])}"))
        for path in sorted(set(moto_shape) & set(kumo_shape)):
            if moto_shape[path] != kumo_shape[path] and "empty" not in moto_shape[path] | kumo_shape[path]:
                findings.append(("leaf", path, f"moto: {shapes.type_text(moto_shape[path])}, kumo: {shapes.type_text(kumo_shape[path])}"))
    findings.extend(kumo_problems)
    return findings


class AllowList:
    def __init__(self, path):
        with open(path, "rb") as f:
            self.entries = tomllib.load(f).get("allow", [])
        for entry in self.entries:
            for field in ("kind", "operation", "reason", "issue"):
                if not entry.get(field):
                    raise ValueError(f"allow-list entry without {field}: {entry}")
            entry.setdefault("path", "")
            entry["used"] = 0

    def match(self, kind, call, path):
        for entry in self.entries:
            if entry["kind"] != kind:
                continue
            if not (fnmatch.fnmatchcase(call.label, entry["operation"]) or fnmatch.fnmatchcase(call.operation, entry["operation"])):
                continue
            pattern = entry["path"]
            if pattern and not (fnmatch.fnmatchcase(path, pattern) or fnmatch.fnmatchcase(path, pattern + "/*")):
                continue
            entry["used"] += 1
            return entry
        return None


def implemented_actions():
    """The EC2, S3 and IAM/STS actions Kumo serves, read from the Rust sources (the EC2
    action table, the S3 router's OPERATIONS and identity's match arms), so a new action
    without a scenario call fails here."""
    found = set()
    for service in ("compute", "network", "block-storage"):
        ec2_dir = os.path.join(repo_root, f"services/{service}/src/ec2")
        for name in sorted(os.listdir(ec2_dir)) if os.path.isdir(ec2_dir) else []:
            if name.endswith(".rs"):
                text = open(os.path.join(ec2_dir, name)).read()
                found |= {f"ec2:{a}" for a in re.findall(r'\(\s*"([A-Z][A-Za-z0-9]+)",\s*(?:true|false)\s*\)', text)}
    router = open(os.path.join(repo_root, "services/object-storage/src/s3/router.rs")).read()
    listed = re.search(r"pub const OPERATIONS: &\[&str\] = &\[(.*?)\];", router, re.S)
    if listed:
        found |= {f"s3:{a}" for a in re.findall(r'"([A-Za-z0-9]+)"', listed.group(1))}
    else:
        raise SystemExit("FAIL: s3::router::OPERATIONS not found; update implemented_actions()")
    identity_dir = os.path.join(repo_root, "services/identity/src")
    for dirpath, _, files in os.walk(identity_dir):
        for name in files:
            if name.endswith(".rs"):
                text = open(os.path.join(dirpath, name)).read()
                found |= {f"{s}:{a}" for s, a in re.findall(r'\(\s*"(sts|iam)",\s*"([A-Z][A-Za-z0-9]+)"\s*\)', text)}
    return found


def main():
    allow = AllowList(os.path.join(HERE, "allow-list.toml"))
    moto = Moto()
    try:
        moto_calls = run_on(moto)
    finally:
        moto.stop()
    kumo_calls = run_on(Kumo(kumo_endpoint, kumo_state))

    kumo_by_label = {c.label: c for c in kumo_calls}
    counts = {k: 0 for k in FAILING + INFORMATIONAL}
    allowed_by_reason = {}
    failures = 0
    covered = set()
    for moto_call in moto_calls:
        kumo_call = kumo_by_label.get(moto_call.label)
        if kumo_call is None:
            print(f"FAIL {moto_call.label}: Kumo's run never made this call", flush=True)
            failures += 1
            continue
        covered.add(f"{kumo_call.service}:{kumo_call.operation}")
        findings = compare(moto_call, kumo_call)
        lines = []
        for kind, path, detail in findings:
            counts[kind] += 1
            if kind in FAILING:
                entry = allow.match(kind, kumo_call, path)
                if entry:
                    key = f"{entry['issue']}: {entry['reason']}"
                    allowed_by_reason[key] = allowed_by_reason.get(key, 0) + 1
                    lines.append(f"  allowed {kind} {path} ({detail}) [{entry['issue']}]")
                else:
                    failures += 1
                    lines.append(f"  FAIL {kind} {path} ({detail})")
            else:
                lines.append(f"  info {kind} {path} ({detail})")
        verdict = "FAIL" if any(l.startswith("  FAIL") for l in lines) else "ok"
        print(f"{verdict} {kumo_call.service}:{kumo_call.label} moto={outcome(moto_call)} kumo={outcome(kumo_call)}", flush=True)
        for line in lines:
            print(line, flush=True)

    stale = [e for e in allow.entries if e["used"] == 0]
    for entry in stale:
        print(f"FAIL allow-list entry matched nothing (fixed? remove it): {entry['kind']} {entry['operation']} {entry['path']}", flush=True)
    failures += len(stale)

    uncovered = sorted(implemented_actions() - covered)
    for action in uncovered:
        print(f"FAIL {action}: Kumo implements it and the scenario does not call it", flush=True)
    failures += len(uncovered)

    by_service = {}
    for action in sorted(covered):
        service, name = action.split(":")
        by_service.setdefault(service, []).append(name)
    print("\n== summary", flush=True)
    print(f"actions covered: {len(covered)} ({', '.join(f'{s} {len(a)}' for s, a in sorted(by_service.items()))}); calls compared: {len(moto_calls)}")
    for service, names in sorted(by_service.items()):
        print(f"  {service}: {' '.join(names)}")
    found = sum(counts[k] for k in FAILING)
    allowed = sum(allowed_by_reason.values())
    print(f"shape differences found: {found} ({', '.join(f'{k} {counts[k]}' for k in FAILING)}); informational: {', '.join(f'{k} {counts[k]}' for k in INFORMATIONAL)}")
    print(f"allow-listed: {allowed} by {len(allow.entries)} entries")
    for reason, n in sorted(allowed_by_reason.items()):
        print(f"  {n:4} {reason}")
    print(f"failures: {failures}")
    sys.exit(1 if failures else 0)


if __name__ == "__main__":
    main()
