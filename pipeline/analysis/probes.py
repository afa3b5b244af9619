"""What the probes saw (the ``probes`` table), each failure read the way ``flowlogs explain`` reads it.

``results(con, run=…)`` gives one row per step of each target (``queries/probes.sql``) with
``cause`` and ``meaning``: for a refused call, the policy type the message names (a cause of
the vocabulary) and what it means; for a network step, which step failed. ``verdicts`` gives
one line per target: the first step that failed, or ok. ``attach`` adds the verdicts about a
finding's destination to it (``probes``): what happens now, beside what the logs saw.
"""

from __future__ import annotations

from pipeline import queries
from pipeline.analysis.denials import ENDPOINT_NAMES, classify
from pipeline.times import iso
from pipeline.vocabulary import CAUSES, PROBE_NETWORK_STEPS, PROBE_STEPS


def _reading(row: dict) -> tuple[str | None, str | None]:
    """(cause, meaning) of a failed step; (None, None) when it worked."""
    if row["ok"]:
        return None, None
    if row["step"] in PROBE_NETWORK_STEPS:
        return None, f"{row['step']} failed: {PROBE_STEPS[row['step']]}"
    denial = classify(row["error"])
    if denial is not None and denial.denied:
        if denial.policy_type:
            return denial.policy_type, f"AWS refused the call: {CAUSES[denial.policy_type]}"
        return None, f"AWS refused the call ({denial.error_code or 'access denied'}); {denial.note or ''}".rstrip("; ")
    return None, f"the {row['step']} failed before AWS decided: the endpoint, proxy or credentials (see error)"


def results(con, run: str | None = None, target: str | None = None) -> list[dict]:
    rows = con.execute(queries.get("probes").sql, {"run": run, "target": target})
    names = [d[0] for d in rows.description]
    out = []
    for values in rows.fetchall():
        row = dict(zip(names, values))
        row["cause"], row["meaning"] = _reading(row)
        out.append(row)
    return out


def verdicts(rows: list[dict]) -> list[dict]:
    """One row per (run, target): the first step that failed and its error, or ok."""
    found: dict[tuple, dict] = {}
    for r in rows:
        if r["step"] == "identity":
            continue
        key = (r["run_id"], r["target"])
        v = found.setdefault(key, {"run_id": r["run_id"], "probe_time": r["probe_time"], "cluster": r["cluster"],
                                   "service": r["service"], "source_ip": r["source_ip"],
                                   "target": r["target"], "host": r["host"], "port": r["port"], "verdict": "ok",
                                   "failed_step": None, "cause": None, "error": None, "addresses": None})
        if r["step"] == "dns":
            v["addresses"] = r["addresses"]
        if not r["ok"] and v["failed_step"] is None:
            v.update(verdict="failed", failed_step=r["step"], cause=r["cause"], error=r["error"])
    return list(found.values())


PROBES_PER_FINDING = 5


def _about(verdict: dict, finding: dict) -> bool:
    """Whether a probe speaks for the finding: run on the network of the finding's service (and cluster),
    to its destination: the same AWS service, or an address in common, on the finding's port."""
    if verdict["service"] is None or verdict["service"] != finding.get("service"):
        return False
    if None not in (verdict["cluster"], finding.get("cluster")) and verdict["cluster"] != finding["cluster"]:
        return False
    if finding.get("dest_port") not in (None, verdict["port"]):
        return False
    service = (finding.get("destination") or {}).get("aws_service")
    if service and ENDPOINT_NAMES.get(verdict["target"], verdict["target"]) == service:
        return True
    return bool(set(verdict["addresses"] or ()) & set(finding.get("dest_addrs") or ()))


def attach(con, findings: list[dict]) -> None:
    """Give each finding whose destination was probed a ``probes`` list (newest first, at most 5): each
    probe run's verdict for it. ``observed_at`` and the causes stay the logs'."""
    shown = [dict(v, probe_time=iso(v["probe_time"])) for v in verdicts(results(con))]
    shown.sort(key=lambda v: v["probe_time"] or "", reverse=True)
    for f in findings:
        mine = [v for v in shown if _about(v, f)][:PROBES_PER_FINDING]
        if mine:
            f["probes"] = mine
