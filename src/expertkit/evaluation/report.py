"""`test --report report.html`: a self-contained HTML report and a Markdown twin beside it.

Summary scores, every case with the expert's and the base model's answers side by side, and
the training loss curve when training left one (loss.png embedded, or drawn from
training_summary.json's history). Every user or model string is escaped: outputs are
untrusted text and may well contain `<script>`.
"""

from __future__ import annotations

import base64
import html
import io
from pathlib import Path
from typing import Any

from expertkit import atomic
from expertkit.evaluation.runner import CaseResult, SuiteResult

_CSS = """body{font-family:system-ui,sans-serif;margin:2em;color:#222}table{border-collapse:collapse;margin:1em 0}
td,th{border:1px solid #ccc;padding:4px 8px;vertical-align:top;text-align:left}pre{white-space:pre-wrap;margin:0;max-width:40em}
.pass{color:#070;font-weight:bold}.fail{color:#b00;font-weight:bold}details{color:#555}"""


def loss_curve_png(suite: SuiteResult) -> bytes | None:
    """loss.png as written by training, else a plot of the summary's loss history, else None."""
    info = suite.training
    if info.loss_png is not None:
        return info.loss_png.read_bytes()
    if not info.train_loss and not info.eval_loss:
        return None
    from matplotlib.figure import Figure  # no pyplot: no global backend state

    fig = Figure(figsize=(7, 4), dpi=100)
    ax = fig.subplots()
    if info.train_loss:
        ax.plot([p.get("step", i) for i, p in enumerate(info.train_loss)], [p["loss"] for p in info.train_loss], label="train loss")
    if info.eval_loss:
        ax.plot([p.get("step", i) for i, p in enumerate(info.eval_loss)], [p["eval_loss"] for p in info.eval_loss], "o-", label="eval loss")
    ax.set_xlabel("optimizer step")
    ax.set_ylabel("loss")
    ax.grid(alpha=0.3)
    ax.legend()
    buf = io.BytesIO()
    fig.savefig(buf, format="png")
    return buf.getvalue()


def summary_rows(suite: SuiteResult) -> list[tuple[str, str]]:
    q = suite.quality
    rows = [("adapter", suite.adapter), ("cases", f"{suite.cases_path} ({', '.join(suite.categories) if suite.categories else 'all categories'})"),
            ("passed", f"{suite.passed}/{suite.total}"), ("benchmark_score", _fmt(q.get("benchmark_score")))]
    if suite.base is not None:
        rows += [("base_model_score", _fmt(q.get("base_model_score"))),
                 ("improvement_percent", _fmt(q.get("improvement_percent"), "n/a (base scored 0)")),
                 ("win_rate_vs_base", _fmt(q.get("win_rate_vs_base"))),
                 ("beats base by > min_improvement", f"{'yes' if suite.beats_base else 'no'} (margin {suite.margin}, required > {suite.min_improvement})")]
    rows += [("training_steps", _fmt(q.get("training_steps"))), ("test_date", _fmt(q.get("test_date")))]
    for key, value in (suite.perf or {}).items():
        rows.append((f"perf.{key}", _fmt(value)))
    if suite.overlap is not None:
        from expertkit.evaluation.overlap import category_lines

        rows += [("test/train overlap", line) for line in category_lines(suite.overlap)]
    return rows


def _fmt(value: Any, none: str = "—") -> str:
    return none if value is None else str(value)


def _h(text: Any) -> str:
    return html.escape("" if text is None else str(text), quote=True)


def _verdict_html(r: CaseResult | None) -> str:
    if r is None:
        return "<td></td><td></td>"
    think = f"<details><summary>reasoning</summary><pre>{_h(r.reasoning)}</pre></details>" if r.reasoning else ""
    cls = "pass" if r.passed else "fail"
    return (f"<td><pre>{_h(r.output)}</pre>{think}<small>{_h(r.reason)} · {r.latency_ms} ms · {r.tokens} tok</small></td>"
            f"<td class='{cls}'>{'PASS' if r.passed else 'FAIL'}</td>")


def render_html(suite: SuiteResult, loss_png: bytes | None) -> str:
    title = f"Test report: {suite.expert_name} ({suite.adapter})"
    parts = [f"<!DOCTYPE html><html><head><meta charset='utf-8'><title>{_h(title)}</title><style>{_CSS}</style></head><body>",
             f"<h1>{_h(title)}</h1><h2>Summary</h2><table>"]
    parts += [f"<tr><th>{_h(k)}</th><td>{_h(v)}</td></tr>" for k, v in summary_rows(suite)]
    parts.append("</table>")
    if loss_png:
        parts.append(f"<h2>Training loss</h2><img alt='training loss curve' src='data:image/png;base64,{base64.b64encode(loss_png).decode()}'>")
    base_cols = "<th>base output</th><th>base</th>" if suite.base is not None else ""
    parts.append(f"<h2>Cases</h2><table><tr><th>id</th><th>category</th><th>match</th><th>input</th><th>expected</th>"
                 f"<th>expert output</th><th>expert</th>{base_cols}<th>train overlap</th></tr>")
    base = {r.id: r for r in suite.base or []}
    for r in suite.expert:
        row = (f"<tr><td>{_h(r.id)}</td><td>{_h(r.category)}</td><td>{_h(r.match)}</td><td><pre>{_h(r.input)}</pre></td>"
               f"<td><pre>{_h(r.expected)}</pre></td>{_verdict_html(r)}")
        if suite.base is not None:
            row += _verdict_html(base.get(r.id))
        parts.append(row + f"<td>{_h(_overlap_cell(suite, r.id))}</td></tr>")
    parts.append("</table></body></html>\n")
    return "".join(parts)


def _overlap_cell(suite: SuiteResult, case_id: str) -> str:
    """The case's test/train overlap figures (nearest training turn too), "" when not measured."""
    from expertkit.evaluation.overlap import case_cell

    found = next((c for c in suite.overlap.cases if c.id == case_id), None) if suite.overlap is not None else None
    return f"{case_cell(found)} (nearest: {found.nearest})" if found is not None and found.nearest else (case_cell(found) if found else "")


def _md(text: Any) -> str:
    """A table cell: pipes escaped, newlines as <br>, HTML escaped (Markdown renders raw HTML)."""
    return html.escape("" if text is None else str(text)).replace("|", "\\|").replace("\n", "<br>")


def render_markdown(suite: SuiteResult, loss_image: str | None) -> str:
    lines = [f"# Test report: {_md(suite.expert_name)} ({_md(suite.adapter)})", "", "| | |", "|---|---|"]
    lines += [f"| {_md(k)} | {_md(v)} |" for k, v in summary_rows(suite)]
    if loss_image:
        lines += ["", "## Training loss", "", f"![training loss]({loss_image})"]
    head = "| id | category | match | input | expected | expert output | expert |"
    sep = "|---|---|---|---|---|---|---|"
    if suite.base is not None:
        head, sep = head + " base output | base |", sep + "---|---|"
    head, sep = head + " train overlap |", sep + "---|"
    lines += ["", "## Cases", "", head, sep]
    base = {r.id: r for r in suite.base or []}
    for r in suite.expert:
        row = f"| {_md(r.id)} | {r.category} | {r.match} | {_md(r.input)} | {_md(r.expected)} | {_md(r.output)} | {'PASS' if r.passed else 'FAIL: ' + _md(r.reason)} |"
        if suite.base is not None:
            b = base.get(r.id)
            row += f" {_md(b.output if b else '')} | {('PASS' if b.passed else 'FAIL: ' + _md(b.reason)) if b else ''} |"
        lines.append(row + f" {_md(_overlap_cell(suite, r.id))} |")
    return "\n".join(lines) + "\n"


def write_report(suite: SuiteResult, path: str | Path) -> tuple[Path, Path]:
    """Write ``path`` (HTML) and the same name with .md; the loss curve PNG goes beside the .md."""
    path = Path(path)
    if path.suffix.lower() == ".md":  # asked for the Markdown one: the HTML goes beside it
        path = path.with_suffix(".html")
    png = loss_curve_png(suite)
    md_path = path.with_suffix(".md")
    image_name = None
    if png:
        image = path.with_name(path.stem + ".loss.png")
        atomic.write_bytes(image, png)
        image_name = image.name
    atomic.write_text(path, render_html(suite, png))
    atomic.write_text(md_path, render_markdown(suite, image_name))
    return path, md_path
