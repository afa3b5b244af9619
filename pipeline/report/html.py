"""The incident report: one self-contained HTML file built from a findings document.

Everything is inline (CSS, SVG charts drawn here in Python, a few lines of script
for the copy buttons): the file opens from a laptop, an email attachment or a
ticket without fetching anything, and prints cleanly.  Every value from the
document goes through :func:`e` (``html.escape``).

Layout: summary (what is broken, since when, how many tasks and services; one
sentence per incident, what is broken and what to do first; counts per kind; one
row per incident, or per finding when by task) → timeline of rejected and unanswered flows per destination → service
× destination matrix → one section per finding (top cause, resource, rule,
explanation, fix, other candidates, evidence) → what flow logs cannot show.
"""

from __future__ import annotations

import html as _html
import json
import math
from collections import defaultdict
from datetime import datetime, timedelta
from typing import Any, Iterable, Mapping, Sequence, TextIO

from pipeline import vocabulary
from pipeline.times import iso
from pipeline.analysis import document as F
from pipeline.report.registry import Payload, header_lines, register
from pipeline.report.values import cell, is_number_column, plural as _plural

DEFAULT_TITLE = "Fargate connectivity incident report"

#: Colours per kind (chart bars, badges) and CSS classes per state (matrix cells).
KIND_COLORS = vocabulary.KIND_COLORS
STATE_CLASSES = {state: "st-" + state.replace("_", "") for state in vocabulary.STATE_LABELS}
CHART_KINDS = tuple(k for k in vocabulary.BROKEN_KINDS if k not in vocabulary.EVENT_KINDS)  # the timeline
EVENT_KINDS = vocabulary.EVENT_KINDS

TCP_FLAGS = ((1, "FIN"), (2, "SYN"), (4, "RST"), (8, "PSH"), (16, "ACK"), (32, "URG"))


def e(value: Any) -> str:
    """Escape any value for HTML text or attribute use."""
    if value is None:
        return ""
    if isinstance(value, bool):
        value = "true" if value else "false"
    elif isinstance(value, (dict, list)):
        value = json.dumps(value, ensure_ascii=False, default=str)
    return _html.escape(str(value), quote=True)


def _num(value: Any) -> str:
    try:
        return f"{int(value):,}"
    except (TypeError, ValueError):
        return e(value)


def _bytes(value: Any) -> str:
    try:
        n = float(value)
    except (TypeError, ValueError):
        return e(value)
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if abs(n) < 1024 or unit == "TiB":
            return f"{n:,.0f} {unit}" if unit == "B" else f"{n:,.1f} {unit}"
        n /= 1024
    return e(value)  # pragma: no cover


def _when(value: Any, *, with_date: bool = True) -> str:
    t = F.parse_time(value)
    if t is None:
        return e(value) or "–"
    return e(t.strftime("%Y-%m-%d %H:%M:%S UTC" if with_date else "%H:%M:%S"))


def _time_tag(value: Any, *, with_date: bool = True) -> str:
    t = F.parse_time(value)
    if t is None:
        return e(value) or "–"
    return f'<time datetime="{e(iso(t))}">{_when(t, with_date=with_date)}</time>'


def _badge(text: str, cls: str, title: str | None = None) -> str:
    t = f' title="{e(title)}"' if title else ""
    return f'<span class="badge {e(cls)}"{t}>{e(text)}</span>'


def _kind_badge(kind: Any) -> str:
    k = str(kind or "")
    return _badge(F.KIND_LABELS.get(k, k or "unknown"), f"k-{k}", title=f"kind: {k}")


def _change_badge(change: Any) -> str:
    """What the scheduled run did to the incident (new, ongoing, resolved), when it tracked it."""
    if change not in vocabulary.INCIDENT_CHANGES:
        return ""
    cls = {"new": "maybe", "resolved": "ok"}.get(change, "")
    return _badge(change, f"change {cls}".strip(), title=vocabulary.INCIDENT_CHANGES[change]) + " "


def _state_badge(state: Any) -> str:
    s = str(state or "")
    return _badge(F.STATE_LABELS.get(s, s or "unknown"), f"s-{STATE_CLASSES.get(s, 'st-unknown')}",
                  title=f"state: {s}")


def _confirmed(cause: Mapping) -> str:
    if cause.get("confirmed") is True:
        return _badge("confirmed", "ok", "the configuration was checked and matches")
    return _badge("not confirmed", "maybe", "inferred from the traffic pattern only")


def _anchor(i: int) -> str:
    return f"finding-{i}"


# ------------------------------------------------------------------------ CSS

CSS = """
:root{--ink:#1d2330;--muted:#5b6475;--line:#dde1e8;--soft:#f5f7fa;--accent:#23395d;
--red:#c9302c;--red-bg:#fdecea;--amber:#b36b00;--amber-bg:#fff4dc;--purple:#7b3fa0;
--purple-bg:#f3e8fa;--blue:#2f6fb5;--blue-bg:#e7f0fb;--green:#2e7d32;--green-bg:#e8f5e9}
*{box-sizing:border-box}
html{-webkit-text-size-adjust:100%}
body{margin:0;background:#eef1f5;color:var(--ink);
font:15px/1.5 -apple-system,BlinkMacSystemFont,"Segoe UI",Roboto,"Helvetica Neue",Arial,sans-serif}
main{max-width:1120px;margin:0 auto;padding:0 24px 48px}
code,pre,.mono{font-family:ui-monospace,SFMono-Regular,Menlo,Consolas,"Liberation Mono",monospace;font-size:.88em}
a{color:var(--blue);text-decoration:none}a:hover{text-decoration:underline}
h1,h2,h3,h4{line-height:1.25;margin:0}
header.top{background:var(--accent);color:#fff;padding:28px 0 24px;margin-bottom:24px}
header.top .inner{max-width:1120px;margin:0 auto;padding:0 24px}
header.top h1{font-size:26px;font-weight:650;letter-spacing:-.01em}
header.top .meta{margin-top:6px;color:#c9d3e3;font-size:13.5px}
header.top .meta span{margin-right:18px;white-space:nowrap}
header.top .meta code{color:#fff}
.card{background:#fff;border:1px solid var(--line);border-radius:10px;padding:22px 24px;margin:0 0 20px;
box-shadow:0 1px 2px rgba(20,30,50,.04)}
.card>h2{font-size:18px;margin-bottom:14px;font-weight:650}
.card>h2 .sub{font-weight:400;color:var(--muted);font-size:13.5px;margin-left:8px}
.headline{font-size:19px;font-weight:600;margin:0 0 16px}
.headline.ok{color:var(--green)}
.stats{display:grid;grid-template-columns:repeat(auto-fit,minmax(150px,1fr));gap:12px;margin:0 0 18px}
.stat{background:var(--soft);border-radius:8px;padding:10px 14px}
.stat .v{font-size:22px;font-weight:650;line-height:1.2}
.stat .v.small{font-size:16px;padding-top:4px}
.stat .l{font-size:12px;color:var(--muted);text-transform:uppercase;letter-spacing:.04em}
.kinds{display:flex;flex-wrap:wrap;gap:8px;margin:0 0 16px}
.kinds .badge{font-size:13px;padding:3px 10px}
.badge{display:inline-block;border-radius:999px;padding:1px 9px;font-size:12px;font-weight:600;
white-space:nowrap;border:1px solid transparent;vertical-align:middle}
.k-reject{background:var(--red-bg);color:var(--red);border-color:#f3c3c0}
.k-no_return{background:var(--amber-bg);color:var(--amber);border-color:#f1d59c}
.k-refused{background:var(--purple-bg);color:var(--purple);border-color:#dcc2ea}
.k-endpoint_bypassed{background:var(--blue-bg);color:var(--blue);border-color:#bcd3ef}
.k-access_denied{background:#fbeae3;color:#a8431c;border-color:#f0c7b6}
.k-task_start_failed{background:#eceff3;color:#3b4452;border-color:#cfd5de}
.k-dns_failure{background:var(--amber-bg);color:#8a5a00;border-color:#f1d59c}
.badge.s-st-blocked,.badge.s-st-refused,.badge.s-st-noreply,.badge.s-st-established,.badge.s-st-unknown
{background:#fff;color:var(--muted);border-color:var(--line)}
.badge.ok{background:var(--green-bg);color:var(--green);border-color:#b9dcbb}
.badge.maybe{background:#fff;color:var(--amber);border-color:#f1d59c}
table{border-collapse:collapse;width:100%}
th,td{text-align:left;vertical-align:top;padding:6px 8px;border-bottom:1px solid var(--line)}
th{font-size:12px;color:var(--muted);font-weight:600;text-transform:uppercase;letter-spacing:.03em}
td.n,th.n{text-align:right;font-variant-numeric:tabular-nums}
table.broken td{padding:8px}
table.broken td.what a{font-weight:600}
table.broken .cause code{font-weight:600}
.scroll{overflow-x:auto}
.chart svg{display:block;width:100%;height:auto}
.legend{display:flex;flex-wrap:wrap;gap:16px;font-size:13px;color:var(--muted);margin:4px 0 10px}
.legend i{display:inline-block;width:12px;height:12px;border-radius:3px;margin-right:6px;vertical-align:-1px}
.note{font-size:13px;color:var(--muted);margin:8px 0 0}
.mini{font-size:12px;color:var(--muted);font-weight:400;margin:1px 0 0}
.alt-fix{margin-top:6px;overflow-wrap:anywhere}
.subline{margin:-8px 0 16px;color:var(--muted);font-size:14.5px}
ol.incidents{margin:-6px 0 16px;padding-left:22px}
ol.incidents li{margin:0 0 8px}
ol.incidents code.first-fix{font-size:12.5px;word-break:break-all}
.stat .of{font-size:14px;font-weight:500;color:var(--muted)}
table.matrix th.row{font-size:13.5px;text-transform:none;letter-spacing:0;color:var(--ink);white-space:nowrap}
table.matrix th.col{text-transform:none;letter-spacing:0;font-size:12.5px;color:var(--ink);font-weight:600}
table.matrix td{text-align:center;border:3px solid #fff;border-radius:6px;min-width:96px;font-size:13px}
table.matrix td a{color:inherit;display:block}
table.matrix td .f{display:block;font-size:11.5px;opacity:.85}
td.st-blocked,i.st-blocked{background:#f6c9c6;color:#7d1714}
td.st-refused,i.st-refused{background:#e6d0f2;color:#4d1f69}
td.st-noreply,i.st-noreply{background:#ffe2a8;color:#6b4100}
td.st-established,i.st-established{background:#cfe0f6;color:#173d69}
td.st-none{background:var(--soft);color:#a3aab7}
section.finding{border-left:5px solid var(--line)}
section.finding.k-reject{border-left-color:var(--red)}
section.finding.k-no_return{border-left-color:#e08a00}
section.finding.k-refused{border-left-color:var(--purple)}
section.finding.k-endpoint_bypassed{border-left-color:var(--blue)}
section.finding.k-access_denied{border-left-color:#a8431c}
section.finding.k-task_start_failed{border-left-color:#4f5a6b}
p.cross{background:#fff8e6;border:1px solid #f1d59c;border-radius:8px;padding:10px 14px;margin:0 0 14px}
section.finding.k-dns_failure{border-left-color:#8a5a00}
section.finding{background:#fff;color:var(--ink)}
.fhead{display:flex;flex-wrap:wrap;align-items:center;gap:8px 10px;margin-bottom:14px}
.fhead .num{background:var(--accent);color:#fff;border-radius:6px;font-weight:700;font-size:13px;
padding:2px 8px}
.fhead h3{font-size:18px;font-weight:650}
.fhead h3 .arrow{color:var(--muted);font-weight:400;margin:0 4px}
.fhead h3 small{color:var(--muted);font-weight:500;font-size:14px}
dl.facts{display:grid;grid-template-columns:repeat(auto-fill,minmax(240px,1fr));gap:8px 20px;margin:0 0 16px}
dl.facts div{min-width:0}
dl.facts dt{font-size:11.5px;color:var(--muted);text-transform:uppercase;letter-spacing:.04em}
dl.facts dd{margin:0;overflow-wrap:anywhere;font-size:14px}
.cause-box{background:var(--soft);border:1px solid var(--line);border-radius:8px;padding:14px 16px;margin:0 0 14px}
.cause-box .ch{display:flex;flex-wrap:wrap;align-items:center;gap:8px;margin-bottom:8px}
.cause-box .ch .lbl{font-size:12px;text-transform:uppercase;letter-spacing:.04em;color:var(--muted);font-weight:600}
.cause-box .ch code{font-size:15.5px;font-weight:700;color:var(--ink)}
.cause-box dl{display:grid;grid-template-columns:max-content 1fr;gap:2px 14px;margin:0 0 8px;font-size:14px}
.cause-box dt{color:var(--muted)}.cause-box dd{margin:0;overflow-wrap:anywhere}
.cause-box p{margin:0 0 10px}
.fix{border-radius:7px;overflow:hidden;border:1px solid #2b3447}
.fix .fh{display:flex;justify-content:space-between;align-items:center;background:#2b3447;color:#c9d3e3;
font-size:12px;padding:4px 10px;text-transform:uppercase;letter-spacing:.04em}
.fix pre{margin:0;background:#1b2130;color:#e8edf5;padding:10px 12px;white-space:pre-wrap;word-break:break-all;
font-size:13px;line-height:1.5}
button.copy{font:inherit;font-size:12px;text-transform:none;letter-spacing:0;background:#46526b;color:#fff;
border:0;border-radius:5px;padding:2px 10px;cursor:pointer}
button.copy:hover{background:#5a6885}
h4{font-size:13px;text-transform:uppercase;letter-spacing:.04em;color:var(--muted);margin:16px 0 6px}
table.others td,table.evidence td{font-size:13px}
table.evidence th,table.evidence td{padding:5px 5px}
table.evidence th{white-space:nowrap}
.nw{white-space:nowrap}
table.evidence td{font-family:ui-monospace,SFMono-Regular,Menlo,Consolas,monospace;font-size:11.5px}
.act-REJECT{color:var(--red);font-weight:700}.act-ACCEPT{color:var(--green);font-weight:600}
.files{font-size:11.5px;color:var(--muted);margin:6px 0 0;overflow-wrap:anywhere}
.files b{color:var(--ink);margin-right:4px}
table.others td:nth-child(2) code,table.others td:first-child code{white-space:nowrap}
details{margin-top:8px;font-size:13px}
details summary{cursor:pointer;color:var(--muted)}
details pre{background:var(--soft);padding:10px;border-radius:6px;white-space:pre-wrap;word-break:break-all;
font-size:12px}
.limits ul{margin:0;padding-left:20px}.limits li{margin:0 0 6px}
footer{color:var(--muted);font-size:12.5px;text-align:center;margin-top:24px}
@media (max-width:700px){main{padding:0 12px 32px}.card{padding:16px}}
@media print{
@page{size:A4;margin:14mm 12mm}
body{background:#fff;font-size:11pt}
*{-webkit-print-color-adjust:exact;print-color-adjust:exact}
header.top{background:#fff;color:var(--ink);padding:0 0 8px;margin-bottom:12px;border-bottom:2px solid var(--ink)}
header.top .inner,main{max-width:none;padding:0}
header.top .meta,header.top .meta code{color:var(--muted)}
.card{box-shadow:none;border-radius:0;border:0;border-top:1px solid var(--line);padding:12px 0;margin:0}
section.finding{border-left:0;break-before:page}
.cause-box,.fix,.stat,table.matrix,.chart,tr{break-inside:avoid}
h2,h3,h4,.fhead{break-after:avoid}
button.copy,details{display:none}
table.evidence th,table.evidence td{white-space:normal;font-size:7pt;padding:3px 2px}
table.evidence .nw{white-space:normal;overflow-wrap:anywhere}
header.top .meta span{white-space:normal}
table.others td,table.broken td{font-size:9pt}
table.broken{table-layout:fixed;width:100%}
table.broken td,table.broken code{white-space:normal;overflow-wrap:anywhere}
table.matrix{table-layout:fixed;width:100%}
table.matrix th.row,table.matrix th.col,table.matrix td,table.matrix td .f{font-size:7pt;min-width:0;white-space:normal;overflow-wrap:anywhere}
.scroll{overflow:visible}
a{color:inherit}
.fix pre{background:#f5f7fa;color:var(--ink);border-top:1px solid var(--line)}
.fix{border-color:var(--line)}.fix .fh{background:#eef1f5;color:var(--muted)}
}
"""

SCRIPT = """
document.addEventListener('click', function (ev) {
  var b = ev.target.closest ? ev.target.closest('button.copy') : null;
  if (!b) return;
  var pre = document.getElementById(b.getAttribute('data-for'));
  if (!pre) return;
  var text = pre.textContent;
  function done(ok) {
    b.textContent = ok ? 'Copied' : 'Select and copy';
    setTimeout(function () { b.textContent = 'Copy'; }, 1600);
  }
  function fallback() {
    var r = document.createRange(); r.selectNodeContents(pre);
    var s = window.getSelection(); s.removeAllRanges(); s.addRange(r);
    var ok = false; try { ok = document.execCommand('copy'); } catch (err) { ok = false; }
    done(ok);
  }
  if (navigator.clipboard && window.isSecureContext) {
    navigator.clipboard.writeText(text).then(function () { done(true); }, fallback);
  } else { fallback(); }
});
"""


# -------------------------------------------------------------------- summary


def _join(names: Sequence[str]) -> str:
    names = list(names)
    if len(names) <= 1:
        return "".join(names)
    return ", ".join(names[:-1]) + " and " + names[-1]


def _incident_sentences(incidents: list[dict]) -> str:
    """One sentence per incident: what is broken, and what to do first (with the command)."""
    items = []
    for n, incident in enumerate(incidents, 1):
        what, first, fix = F.incident_sentence(incident)
        command = f': <code class="first-fix">{e(fix)}</code>' if fix else "."
        items.append(f'<li id="incident-{n}" data-incident="{e(incident.get("id"))}"><strong>{e(what)}</strong>; '
                     f"first, {e(first)}{command}</li>")
    return f'<ol class="incidents">{"".join(items)}</ol>'


def _incident_rows(incidents: list[dict], days: set) -> list[str]:
    """The summary table, one row per incident; the service links to its first finding."""
    rows = []
    for n, incident in enumerate(incidents, 1):
        cause = incident.get("cause") or {}
        first = (incident.get("findings") or [None])[0]
        service = e(incident.get("service"))
        link = f'<a href="#{_anchor(first + 1)}">{service}</a>' if first is not None else service
        tasks = incident.get("tasks") or 0
        now = "still happening" if incident.get("ongoing") else f"last {_when(incident.get('last_seen'))}"
        rows.append(
            f'<tr><td class="n">{n}</td>'
            f'<td class="what">{link}<div class="mini">{e(incident.get("cluster"))} · '
            f'{e(_plural(tasks, "task"))}</div></td>'
            f"<td>{_kind_badge(incident.get('kind'))}</td>"
            f"<td>{e(F.destination_label(incident))}<div class=\"mini mono\">{e(_port(incident))}</div></td>"
            f"<td>{_time_tag(incident.get('first_seen'), with_date=len(days) > 1)}"
            f'<div class="mini">{_change_badge(incident.get("change"))}{e(now)}</div></td>'
            f'<td class="cause"><code>{e(cause.get("cause") or "unknown")}</code> '
            f"{_confirmed(cause) if cause else ''}"
            f'<div class="mini mono">{e(", ".join(incident.get("resources") or []))}</div></td></tr>'
        )
    return rows


def _summary(doc: Mapping, findings: list[dict], by_incident: bool = True) -> str:
    incidents = doc.get("incidents") or []
    s = F.summarize(findings, incidents)
    parts = ['<section class="card summary" id="summary"><h2>Summary</h2>']
    if not findings:
        parts.append('<p class="headline ok">No findings: every conversation in the window was answered.</p>')
        parts.append("</section>")
        return "".join(parts)
    broken = [f for f in findings if f.get("kind") in F.BROKEN_KINDS]
    warn = [f for f in findings if f.get("kind") not in F.BROKEN_KINDS]
    if broken:
        since = F.parse_time(s["since"])
        when = since.strftime("%H:%M UTC on %d %b %Y") if since else "the start of the window"
        names = sorted({str(f.get("service") or "?") for f in broken})
        who = _join(names) if len(names) <= 4 else _plural(len(names), "service")
        text = f"{who} cannot reach {_plural(s['destinations_broken'], 'destination')} since {when}."
        parts.append(f'<p class="headline">{e(text)}</p>')
    else:
        parts.append('<p class="headline">Nothing is blocked.</p>')
    if by_incident:
        parts.append(_incident_sentences(incidents))
    elif warn:
        bypass = sorted({str(f.get("service") or "?") for f in warn if f.get("kind") == "endpoint_bypassed"})
        other = [f for f in warn if f.get("kind") != "endpoint_bypassed"]
        notes = []
        if bypass:
            notes.append(f"{_join(bypass)} {'reaches' if len(bypass) == 1 else 'reach'} AWS through a NAT "
                         "gateway or the internet although a VPC endpoint exists (works, but bypasses the "
                         "endpoint and its policy).")
        if other:
            notes.append(f"{_plural(len(other), 'other finding')} {'needs' if len(other) == 1 else 'need'} attention.")
        parts.append(f'<p class="subline">{e(" ".join(notes))}</p>')
    stats = [
        (_when(s["since"]) if s["since"] else "–", "", "broken since", True),
        (_when(s["last_seen"]) if s["last_seen"] else "–", "", "last failure seen", True),
        (str(s["services_broken"]), f"of {s['services']}", "services broken", False),
        (str(s["tasks_broken"]), f"of {s['tasks']}", "tasks broken", False),
        (_num(s["failed_flows"]), "", "failed flows", False),
        (str(s["confirmed"]), f"of {s['findings']}", "causes confirmed", False),
    ]
    parts.append('<div class="stats">')
    for value, of, label, small in stats:
        cls = "v small" if small else "v"
        of_html = f' <span class="of">{e(of)}</span>' if of else ""
        parts.append(f'<div class="stat"><div class="{cls}">{value}{of_html}</div>'
                     f'<div class="l">{e(label)}</div></div>')
    parts.append("</div>")
    parts.append('<div class="kinds">')
    for kind, n in (s["incidents_by_kind"] if by_incident else s["by_kind"]).items():
        label = F.KIND_LABELS.get(kind, kind)
        parts.append(f'<span class="badge k-{e(kind)}" title="kind: {e(kind)}">{e(n)} × {e(label)}</span>')
    parts.append("</div>")
    parts.append('<div class="scroll"><table class="broken"><thead><tr><th>#</th><th>Service</th>'
                 "<th>Problem</th><th>Destination</th><th>Since</th><th>Most likely cause</th>"
                 "</tr></thead><tbody>")
    days = {t.date() for t in (F.parse_time(f.get("first_seen")) for f in findings) if t}
    if by_incident:
        parts += _incident_rows(incidents, days)
        parts.append("</tbody></table></div></section>")
        return "".join(parts)
    for i, f in enumerate(findings, 1):
        top = F.top_cause(f)
        parts.append(
            f'<tr><td class="n">{i}</td>'
            f'<td class="what"><a href="#{_anchor(i)}">{e(f.get("service"))}</a>'
            f'<div class="mini">{e(f.get("cluster"))}</div></td>'
            f"<td>{_kind_badge(f.get('kind'))}</td>"
            f"<td>{e(F.destination_label(f))}<div class=\"mini mono\">{e(_port(f))}</div></td>"
            f"<td>{_time_tag(f.get('first_seen'), with_date=len(days) > 1)}</td>"
            f'<td class="cause"><code>{e(top.get("cause") or "unknown")}</code> '
            f"{_confirmed(top) if top else ''}"
            f'<div class="mini mono">{e(top.get("resource"))}</div></td></tr>'
        )
    parts.append("</tbody></table></div></section>")
    return "".join(parts)


def _port(f: Mapping) -> str:
    port = f.get("dest_port")
    proto = F.protocol_name(f.get("protocol"))
    if port in (None, ""):
        return proto
    return f"{port}/{proto}" if proto else str(port)


# ------------------------------------------------------------------- timeline


def _nice_step(span_minutes: float, target: int) -> int:
    for step in (1, 2, 5, 10, 15, 20, 30, 60, 120, 180, 360, 720, 1440, 2880, 10080):
        if span_minutes / step <= target:
            return step
    return 10080


def timeline_svg(doc: Mapping) -> tuple[str, bool, int]:
    """An inline SVG: one lane per destination, stacked bars of rejected/unanswered flows per bucket.

    Returns ``(svg, approximate, minutes_per_bar)``; ``svg`` is "" when there is nothing to draw.
    """
    rows, approximate = F.timeline(doc)
    rows = [r for r in rows if r["kind"] in CHART_KINDS and r["flows"] > 0]
    if not rows:
        return "", approximate, 1
    window = doc.get("window") or {}
    t0 = F.parse_time(window.get("since")) or min(r["bucket"] for r in rows)
    t1 = F.parse_time(window.get("until")) or max(r["bucket"] for r in rows) + timedelta(minutes=1)
    t0 = min(t0, min(r["bucket"] for r in rows))
    t1 = max(t1, max(r["bucket"] for r in rows) + timedelta(minutes=1))
    span = max(1.0, (t1 - t0).total_seconds() / 60)
    step = _nice_step(span, 120)  # at most ~120 bars per lane

    def slot(t: datetime) -> int:
        return int((t - t0).total_seconds() // 60 // step)

    nslots = max(1, math.ceil(span / step))
    lanes: dict[str, dict[int, dict[str, int]]] = defaultdict(lambda: defaultdict(lambda: defaultdict(int)))
    first_at: dict[str, datetime] = {}
    totals: dict[str, int] = defaultdict(int)
    for r in rows:
        lanes[r["destination"]][slot(r["bucket"])][r["kind"]] += r["flows"]
        totals[r["destination"]] += r["flows"]
        first_at[r["destination"]] = min(first_at.get(r["destination"], r["bucket"]), r["bucket"])
    order = sorted(lanes, key=lambda d: (first_at[d], d))
    peak = max(sum(k.values()) for lane in lanes.values() for k in lane.values())

    W, label_w, right_w, lane_h, top, bottom = 1040, 270, 78, 46, 8, 30
    plot_w = W - label_w - right_w
    H = top + lane_h * len(order) + bottom
    bar_w = plot_w / nslots
    out = [f'<svg viewBox="0 0 {W} {H}" role="img" '
           f'aria-label="Rejected and unanswered flows per destination over time" '
           f'font-family="-apple-system,Segoe UI,Roboto,Arial,sans-serif" font-size="12">']
    for i in range(0, len(order), 2):  # zebra lanes under the grid
        out.append(f'<rect x="0" y="{top + i * lane_h}" width="{W}" height="{lane_h}" fill="#f7f8fb"/>')
    # grid + ticks
    tick = _nice_step(span, 8)
    first_tick = t0.replace(second=0, microsecond=0)
    minute_of_day = first_tick.hour * 60 + first_tick.minute
    if minute_of_day % tick:
        first_tick += timedelta(minutes=tick - minute_of_day % tick)
    t = first_tick
    multi_day = t0.date() != (t1 - timedelta(seconds=1)).date()
    while t <= t1:
        x = label_w + (t - t0).total_seconds() / 60 / span * plot_w
        out.append(f'<line x1="{x:.1f}" y1="{top}" x2="{x:.1f}" y2="{H - bottom + 4}" stroke="#e3e7ee"/>')
        label = t.strftime("%d %b %H:%M" if multi_day else "%H:%M")
        out.append(f'<text x="{x:.1f}" y="{H - bottom + 18}" text-anchor="middle" fill="#5b6475">{e(label)}</text>')
        t += timedelta(minutes=tick)
    for i, dest in enumerate(order):
        y = top + i * lane_h
        base = y + lane_h - 6
        name = dest if len(dest) <= 40 else dest[:39] + "…"
        out.append(f'<text x="8" y="{y + lane_h / 2 + 4:.1f}" fill="#1d2330"><title>{e(dest)}</title>{e(name)}</text>')
        out.append(f'<line x1="{label_w}" y1="{base}" x2="{label_w + plot_w}" y2="{base}" stroke="#c8ced8"/>')
        for s, kinds in sorted(lanes[dest].items()):
            x = label_w + s * bar_w + 0.6
            stack = base
            for kind in CHART_KINDS:
                n = kinds.get(kind, 0)
                if not n:
                    continue
                h = max(3.0, (lane_h - 12) * math.sqrt(n / peak))  # sqrt: small counts stay visible
                stack -= h
                at = t0 + timedelta(minutes=s * step)
                tip = f"{dest}: {n} {F.KIND_LABELS.get(kind, kind).lower()} flows at {at:%H:%M} UTC"
                out.append(f'<rect x="{x:.1f}" y="{stack:.1f}" width="{max(1.0, bar_w - 1.2):.1f}" '
                           f'height="{h:.1f}" fill="{KIND_COLORS[kind]}" rx="1"><title>{e(tip)}</title></rect>')
        out.append(f'<text x="{W - 8}" y="{y + lane_h / 2 + 4:.1f}" text-anchor="end" fill="#5b6475">'
                   f'{e(_num(totals[dest]))} flows</text>')
    out.append("</svg>")
    return "".join(out), approximate, step


def _timeline(doc: Mapping) -> str:
    svg, approximate, step = timeline_svg(doc)
    parts = ['<section class="card chart" id="timeline"><h2>Timeline'
             '<span class="sub">rejected and unanswered flows per destination</span></h2>']
    if not svg:
        parts.append('<p class="note">No rejected or unanswered flows to chart.</p></section>')
        return "".join(parts)
    parts.append('<div class="legend">')
    for kind in CHART_KINDS:
        parts.append(f'<span><i style="background:{KIND_COLORS[kind]}"></i>{e(F.KIND_LABELS[kind])}</span>')
    parts.append(f"<span>one bar = {e(_plural(step, 'minute'))}; height grows with the square root of the "
                 "flow count; all times UTC</span></div>")
    parts.append(f'<div class="scroll">{svg}</div>')
    if approximate:
        parts.append('<p class="note">The document has no per-minute timeline, so each finding\'s flows are '
                     "spread evenly between its first and last sighting: the shape is approximate.</p>")
    parts.append("</section>")
    return "".join(parts)


# --------------------------------------------------------------------- matrix


def _matrix(findings: list[dict]) -> str:
    parts = ['<section class="card" id="matrix"><h2>Services × destinations'
             '<span class="sub">worst state seen for each pair</span></h2>']
    if not findings:
        parts.append('<p class="note">No findings.</p></section>')
        return "".join(parts)
    services = sorted({(str(f.get("cluster") or ""), str(f.get("service") or "")) for f in findings})
    dests = sorted({F.destination_label(f) for f in findings})
    cells: dict[tuple, list[tuple[int, dict]]] = defaultdict(list)
    for i, f in enumerate(findings, 1):
        cells[((str(f.get("cluster") or ""), str(f.get("service") or "")), F.destination_label(f))].append((i, f))
    parts.append('<div class="legend">')
    for state in F.STATES:
        parts.append(f'<span><i class="{STATE_CLASSES[state]}"></i>{e(F.STATE_LABELS[state])}</span>')
    parts.append('<span><i style="background:#f5f7fa;border:1px solid #dde1e8"></i>no finding</span></div>')
    parts.append('<div class="scroll"><table class="matrix"><thead><tr><th></th>')
    for d in dests:
        what, _, where = d.rpartition(" (")
        parts.append(f'<th class="col">{e(what or d)}<div class="mini mono">{e(where.rstrip(")"))}</div></th>')
    parts.append("</tr></thead><tbody>")
    for svc in services:
        cluster, name = svc
        parts.append(f'<tr><th class="row">{e(name)}<div class="mini">{e(cluster)}</div></th>')
        for d in dests:
            hits = cells.get((svc, d))
            if not hits:
                parts.append('<td class="st-none">·</td>')
                continue
            i, worst = min(hits, key=lambda h: (F.STATE_RANK.get(str(h[1].get("state")), 99), h[0]))
            state = str(worst.get("state") or "")
            flows = sum(int(h[1].get("flows") or 0) for h in hits)
            kinds = ", ".join(sorted({str(h[1].get("kind")) for h in hits}))
            tip = f"{name} → {d}: {kinds}, {flows} flows"
            parts.append(f'<td class="{STATE_CLASSES.get(state, "st-none")}" title="{e(tip)}">'
                         f'<a href="#{_anchor(i)}"><b>{e(F.STATE_LABELS.get(state, state))}</b>'
                         f'<span class="f">{e(F.KIND_LABELS.get(str(worst.get("kind")), worst.get("kind")))}'
                         f" · {_num(flows)} flows</span></a></td>")
        parts.append("</tr>")
    parts.append("</tbody></table></div></section>")
    return "".join(parts)


# ------------------------------------------------------------------- findings


def _fact(label: str, value_html: str) -> str:
    return f"<div><dt>{e(label)}</dt><dd>{value_html or '–'}</dd></div>"


def _evidence_key(record: Mapping, name: str) -> str | None:
    for k in (name, name.replace("-", "_")):
        if k in record:
            return k
    return None


def _flags(value: Any) -> str:
    try:
        n = int(value)
    except (TypeError, ValueError):
        return e(value)
    names = "+".join(label for bit, label in TCP_FLAGS if n & bit)
    return f"{n} <span class=\"mini\">{e(names)}</span>" if names else str(n)


def _epoch(value: Any) -> datetime | None:
    """Flow-log ``start``/``end``: epoch seconds as int or digit string."""
    if isinstance(value, str) and value.isdigit():
        value = int(value)
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return F.parse_time(value)
    return None


def _field(record: Mapping, name: str) -> Any:
    key = _evidence_key(record, name)
    return record.get(key) if key else None


def _endpoint(record: Mapping, addr: str, port: str) -> str:
    a, p = _field(record, addr), _field(record, port)
    if a in (None, "-"):
        return "–"
    return f"{a}:{p}" if p not in (None, "-", "") else str(a)


def _evidence(records: list) -> str:
    """The raw records in a compact table, plus all their fields as JSON in a <details>."""
    records = [r for r in records if isinstance(r, Mapping)]
    if not records:
        return '<p class="note">No raw records attached.</p>'

    def present(name: str) -> bool:
        return any(_field(r, name) not in (None, "-", "") for r in records)

    # (header, renderer) pairs, only for the fields these records carry
    cols: list[tuple[str, Any]] = []
    if present("interface-id") or present("flow-direction"):
        def interface(r: Mapping) -> str:
            text = f'<span class="nw">{e(_field(r, "interface-id"))}</span>'
            if _field(r, "flow-direction") not in (None, "-", ""):
                text += f'<br><span class="mini">{e(_field(r, "flow-direction"))}</span>'
            return text
        cols.append(("interface", interface))

    def endpoint(r: Mapping, addr: str, port: str, pkt: str) -> str:
        text = f'<span class="nw">{e(_endpoint(r, addr, port))}</span>'
        original = _field(r, pkt)
        if original not in (None, "-", "", _field(r, addr)):
            text += f'<br><span class="mini nw" title="{e(pkt)}">packet: {e(original)}</span>'
        return text

    cols.append(("source", lambda r: endpoint(r, "srcaddr", "srcport", "pkt-srcaddr")))
    cols.append(("destination", lambda r: endpoint(r, "dstaddr", "dstport", "pkt-dstaddr")))
    if present("protocol"):
        cols.append(("proto", lambda r: e(F.protocol_name(_field(r, "protocol")))))
    if present("action"):
        def action(r: Mapping) -> str:
            value = _field(r, "action")
            text = f'<span class="act-{e(value)}">{e(value)}</span>'
            for name, label in (("reject-reason", "reason"), ("traffic-path", "path")):
                extra = _field(r, name)
                if extra not in (None, "-", ""):
                    text += f'<br><span class="mini" title="{e(name)}">{e(label)} {e(extra)}</span>'
            return text
        cols.append(("action", action))
    if present("tcp-flags"):
        cols.append(("tcp-flags", lambda r: _flags(_field(r, "tcp-flags"))))
    for name, header in (("packets", "pkts"), ("bytes", "bytes")):
        if present(name):
            cols.append((header, lambda r, n=name: e(_field(r, n))))
    if present("start") or present("end"):
        cols.append(("start – end", lambda r: f'{_epoch_cell(_field(r, "start"))}–{_epoch_cell(_field(r, "end"))}'))
    if any(_field(r, "log-status") not in (None, "-", "OK") for r in records):
        cols.append(("log-status", lambda r: e(_field(r, "log-status"))))

    files: dict[str, str] = {}
    for r in records:
        src = str(r.get("_source") or "")
        if src and src not in files:
            files[src] = f"f{len(files) + 1}"
    head = "".join(f"<th>{e(h)}</th>" for h, _ in cols) + ("<th>file:line</th>" if files else "")
    body = []
    for r in records:
        tds = "".join(f"<td>{fn(r)}</td>" for _, fn in cols)
        if files:
            src, line = str(r.get("_source") or ""), r.get("_line")
            ref = files.get(src, "–")
            full = f"{src}:{line}" if line is not None else src
            tds += f'<td title="{e(full)}">{e(ref)}{":" + e(line) if line is not None else ""}</td>'
        body.append(f"<tr>{tds}</tr>")
    legend = "".join(f"<div><b>{e(ref)}</b> {e(src)}</div>" for src, ref in files.items())
    raw = json.dumps(records, indent=2, ensure_ascii=False, default=str)
    return (f'<div class="scroll"><table class="evidence"><thead><tr>{head}</tr></thead>'
            f'<tbody>{"".join(body)}</tbody></table></div>'
            + (f'<div class="files mono">{legend}</div>' if legend else "")
            + f"<details><summary>All fields of these {len(records)} records (JSON)</summary>"
            f"<pre>{e(raw)}</pre></details>")


def _epoch_cell(value: Any) -> str:
    t = _epoch(value)
    if t is None:
        return e(value)
    return f'<span title="{e(value)} = {e(iso(t))}">{e(t.strftime("%H:%M:%S"))}</span>'


def _cause_box(i: int, cause: Mapping) -> str:
    if not cause:
        return ('<div class="cause-box"><div class="ch"><span class="lbl">Most likely cause</span>'
                "<code>unknown</code></div><p>No candidate cause was found.</p></div>")
    parts = ['<div class="cause-box"><div class="ch"><span class="lbl">Most likely cause</span>'
             f"<code>{e(cause.get('cause'))}</code>{_confirmed(cause)}</div><dl>"
             f"<dt>Resource</dt><dd><code>{e(cause.get('resource')) or '–'}</code></dd>"
             f"<dt>Rule</dt><dd>{e(cause.get('rule')) or '–'}</dd></dl>"]
    if cause.get("explanation"):
        parts.append(f"<p>{e(cause.get('explanation'))}</p>")
    if cause.get("fix"):
        parts.append(f'<div class="fix"><div class="fh"><span>Fix ({F.FIX_FORMAT_LABELS.get(cause.get("fix_format"), "AWS CLI")})</span>'
                     f'<button class="copy" type="button" data-for="fix-{i}">Copy</button></div>'
                     f'<pre id="fix-{i}"><code>{e(cause.get("fix"))}</code></pre></div>')
    parts.append("</div>")
    return "".join(parts)


def _others(causes: list) -> str:
    causes = [c for c in causes if isinstance(c, Mapping)]
    if not causes:
        return ""
    rows = []
    for c in causes:
        fix = f'<div class="mono mini alt-fix">{e(c.get("fix"))}</div>' if c.get("fix") else ""
        rows.append(f"<tr><td><code>{e(c.get('cause'))}</code><br>{_confirmed(c)}</td>"
                    f"<td><code>{e(c.get('resource'))}</code></td><td>{e(c.get('rule'))}</td>"
                    f"<td>{e(c.get('explanation'))}{fix}</td></tr>")
    return ("<h4>Other candidate causes</h4><div class=\"scroll\"><table class=\"others\"><thead><tr>"
            "<th>Cause</th><th>Resource</th><th>Rule</th><th>Why it is less likely</th></tr></thead>"
            f"<tbody>{''.join(rows)}</tbody></table></div>")


def _event_facts(f: Mapping) -> list[str]:
    """What an API-call or task-event finding has instead of addresses, ports and traffic."""
    api = f.get("api") if isinstance(f.get("api"), Mapping) else {}
    call = ":".join(str(v) for v in (api.get("event_source"), api.get("event_name")) if v)
    facts = [_fact("API call", f'<span class="mono">{e(call) or "–"}</span>'),
             _fact("Error", f'<span class="mono">{e(api.get("error_code")) or "–"}</span>'),
             _fact(f"Role ({e(api.get('role') or 'unknown')})", f'<span class="mono">{e(api.get("role_arn"))}</span>'),
             _fact("Path", f'<span class="mono">{e(api.get("vpc_endpoint_id"))}</span>' if api.get("vpc_endpoint_id")
                   else "no VPC endpoint (NAT gateway or public IP)"),
             _fact("Events", _num(f.get("events")))]
    if f.get("task_ids"):
        facts.append(_fact("Failed tasks", '<span class="mono">' + ", ".join(e(t) for t in f["task_ids"]) + "</span>"))
    return facts


def _event_evidence(f: Mapping) -> str:
    api = f.get("api") if isinstance(f.get("api"), Mapping) else {}
    text = f.get("stopped_reason") or api.get("error_message")
    label = "stoppedReason" if f.get("stopped_reason") else "errorMessage"
    return (f"<h4>Evidence <span class=\"mini\">({e(label)})</span></h4>"
            f'<pre class="mono mini" style="white-space:pre-wrap;overflow-wrap:anywhere">{e(text) or "–"}</pre>')


def _finding(i: int, f: Mapping) -> str:
    d = f.get("destination") if isinstance(f.get("destination"), Mapping) else {}
    kind = str(f.get("kind") or "")
    top = F.top_cause(f)
    addrs = f.get("dest_addrs") or ([f.get("dest_addr")] if f.get("dest_addr") else [])
    task_id = f.get("task_id") or ""
    task = f'<span class="mono" title="{e(f.get("task_arn"))}">{e(task_id)}</span>' if task_id else e(f.get("task_arn"))
    dest_bits = [e(vocabulary.DESTINATION_LABELS.get(str(d.get("type")), d.get("type"))),
                 f'<span class="mono">{e(d.get("id"))}</span>' if d.get("id") else "",
                 e(d.get("name")) if d.get("name") and d.get("name") != d.get("id") else "",
                 f'via <span class="mono">{e(d.get("via"))}</span>' if d.get("via") else ""]
    facts = [
        _fact("Cluster / service", f"{e(f.get('cluster'))} / <b>{e(f.get('service'))}</b>"),
        _fact("Task", task),
        _fact("Source", f'<span class="mono">{e(f.get("source_eni"))}</span> · '
                        f'<span class="mono">{e(f.get("source_addr"))}</span>'),
        _fact("Destination", "<br>".join(b for b in dest_bits if b)),
        _fact("Destination addresses", '<span class="mono">' + ", ".join(e(a) for a in addrs) + "</span>"),
        _fact("Port / protocol", e(_port(f))),
        _fact("Observed at", e(str(f.get("observed_at") or "").replace("_", " "))),
        _fact("Traffic", f"{_num(f.get('flows'))} flows · {_num(f.get('packets'))} packets · "
                         f"{_bytes(f.get('bytes'))}"),
        _fact("First seen", _time_tag(f.get("first_seen"))),
        _fact("Last seen", _time_tag(f.get("last_seen"))),
    ]
    if kind in EVENT_KINDS:
        facts = facts[:4] + _event_facts(f) + facts[-2:]
    if d.get("region"):
        facts.append(_fact("Region", e(d.get("region"))))
    dns = f.get("dns") if isinstance(f.get("dns"), Mapping) else None
    if dns:
        answers = [a.get("rdata") for a in dns.get("answers") or [] if isinstance(a, Mapping)]
        facts.append(_fact("DNS (query log)", f'<span class="mono">{e(dns.get("query_name"))}</span> · '
                                              f'{e(dns.get("rcode"))} · {e(_plural(int(dns.get("queries") or 0), "query"))}'
                                              + (f'<br><span class="mono">{e(", ".join(map(str, answers)))}</span>'
                                                 if answers else "")))
    cross = f'<p class="cross">{e(f.get("cross_evidence"))}</p>' if f.get("cross_evidence") else ""
    evidence = _event_evidence(f) if kind in EVENT_KINDS else (
        f"<h4>Evidence <span class=\"mini\">({e(_plural(len(f.get('evidence') or []), 'raw record'))})</span></h4>"
        f"{_evidence(list(f.get('evidence') or []))}")
    what = d.get("aws_service") or d.get("name") or f.get("dest_addr") or "unknown"
    where = d.get("id") or F.destination_label(f).rpartition(" (")[2].rstrip(")")
    return (
        f'<section class="card finding k-{e(kind)}" id="{_anchor(i)}">'
        f'<div class="fhead"><span class="num">{i}</span>'
        f'<h3>{e(f.get("service"))}<span class="arrow">→</span>{e(what)} '
        f'<small>{e(where)}{"" if kind in EVENT_KINDS else " · " + e(_port(f))}</small></h3>'
        f"{_kind_badge(kind)}{_state_badge(f.get('state')) if f.get('state') else ''}</div>"
        f'<dl class="facts">{"".join(facts)}</dl>'
        f"{cross}{_cause_box(i, top)}"
        f"{_others((f.get('likely_causes') or [])[1:])}"
        f"{evidence}"
        "</section>"
    )


# --------------------------------------------------------------------- limits

LIMITS = (
    ("IAM permissions.", "A task whose role lacks a permission gets an HTTP 403 (AccessDenied) inside a "
     "TLS connection that was accepted and answered: in flow logs it looks healthy. Check CloudTrail and "
     "the task role."),
    ("VPC endpoint policies.", "A request denied by an endpoint policy is also a 403 over an established "
     "connection, and so is an S3 bucket policy that requires a specific endpoint."),
    ("DNS answers.", "Queries to the Amazon-provided DNS server are not logged, and no record says which "
     "address a name resolved to; a bypassed endpoint is inferred from the addresses used. Route 53 "
     "Resolver query logs show the answers."),
    ("Traffic that is never logged.", "Instance metadata (169.254.169.254), Amazon Time Sync "
     "(169.254.169.123), DHCP, the VPC router's reserved address, mirrored traffic, and traffic between an "
     "endpoint's network interface and a Network Load Balancer's."),
    ("What happens inside a connection.", "TLS handshake failures, HTTP errors, throttling and timeouts "
     "in the application are invisible; so is a connection the task never opened, for example because "
     "its credentials failed to load."),
    ("Timing and gaps.", "Records are aggregated over 1 or 10 minute intervals and delivered minutes "
     "later, so the last minutes of the window may be incomplete; SKIPDATA records mean flows were "
     "dropped. REJECT also counts packets that arrive after a connection closed, so a few isolated "
     "rejects on a healthy conversation are normal."),
)


def _limits(trail_gaps: list) -> str:
    items = "".join(f"<li><b>{e(t)}</b> {e(body)}</li>" for t, body in LIMITS)
    gaps = "".join(f"<li>{e(g.get('sentence'))}</li>" for g in trail_gaps if isinstance(g, Mapping))
    trail = f"<h3>What this account's trails cannot show</h3><ul>{gaps}</ul>" if gaps else ""
    return ('<section class="card limits" id="limits"><h2>What flow logs cannot show</h2>'
            f"<ul>{items}</ul>{trail}</section>")


# ----------------------------------------------------------------------- page


def _page(title: str, header_meta: Sequence[str], body: str) -> str:
    meta = " ".join(f"<span>{m}</span>" for m in header_meta)
    return (
        "<!DOCTYPE html>\n"
        '<html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        '<meta name="color-scheme" content="light">'
        '<link rel="icon" href="data:,">'
        f"<title>{e(title)}</title><style>{CSS}</style></head><body>"
        f'<header class="top"><div class="inner"><h1>{e(title)}</h1>'
        f'<div class="meta">{meta}</div></div></header>'
        f"<main>{body}</main>"
        f"<script>{SCRIPT}</script>"
        "</body></html>\n"
    )


def _version() -> str:
    try:
        from pipeline import __version__
    except ImportError:  # pragma: no cover
        return ""
    return str(__version__)


def report(doc: Mapping, *, title: str | None = None, by_incident: bool = True) -> str:
    """The incident report for a findings document, as one HTML string; its summary leads with the
    incidents (one sentence and one row each), or with every finding (``by_incident=False``)."""
    doc = F.canonical_document(doc)
    findings = doc["findings"]
    title = title or DEFAULT_TITLE
    meta = header_lines(doc, {"window": "Window {since} → {until}", "lake": "Lake <code>{lake}</code>",
                              "generated": "Generated {generated}"}, when=_when, text=e)
    body = [_summary(doc, findings, by_incident), _timeline(doc),
            _matrix([f for f in findings if f.get("kind") not in EVENT_KINDS])]
    numbered = list(enumerate(findings, 1))
    for heading, part in (("Findings", [(i, f) for i, f in numbered if f.get("kind") not in EVENT_KINDS]),
                          ("Permissions and task starts",
                           [(i, f) for i, f in numbered if f.get("kind") in EVENT_KINDS])):
        if part:
            body.append(f'<h2 style="margin:28px 0 12px;font-size:20px">{e(heading)}</h2>')
            body += [_finding(i, f) for i, f in part]
    body.append(_limits(list(doc.get("trail_gaps") or [])))
    version = _version()
    body.append(f"<footer>fargate-flowlogs{(' ' + e(version)) if version else ''} · "
                f"{e(_plural(len(findings), 'finding'))} · generated {_when(doc.get('generated_at'))}</footer>")
    return _page(title, meta, "".join(body))


def rows_page(columns: Sequence[str], rows: Iterable[Mapping], *, title: str | None = None) -> str:
    """A standalone HTML page with one table (for query results and other reports)."""
    rows = list(rows)
    numeric = {c for c in columns if is_number_column(rows, c)}
    head = "".join(f'<th class="{"n" if c in numeric else ""}">{e(c)}</th>' for c in columns)
    body = "".join(
        "<tr>" + "".join(f'<td class="{"n" if c in numeric else ""}">{e(cell(r.get(c)))}</td>' for c in columns)
        + "</tr>"
        for r in rows
    )
    table = (f'<section class="card"><div class="scroll"><table><thead><tr>{head}</tr></thead>'
             f"<tbody>{body}</tbody></table></div>"
             f'<p class="note">{e(_plural(len(rows), "row"))}</p></section>')
    return _page(title or "Query results", [], table)


@register("html", "html", "the self-contained HTML incident report")
def render_html(p: Payload, out: TextIO) -> None:
    if p.is_findings:
        out.write(report(p.doc, title=p.title, by_incident=p.by_incident))
    else:
        out.write(rows_page(p.columns, p.rows, title=p.title))
