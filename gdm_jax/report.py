"""`gdm-jax report`: one self-contained HTML page (and a markdown twin) with the verdict table,
the errata, and every experiment's figure and table."""
from __future__ import annotations

import base64
import html
import subprocess
import sys
from pathlib import Path

from gdm_jax.claims.core import Result, fmt

#: What each question of the problem set is about (section titles of the table and the report).
QUESTIONS = {
    "q1": "change of variables",
    "q2": "amortised inference",
    "q3": "importance-weighted bounds",
    "q4": "masked convolutions",
    "q5": "optimal discriminator",
    "q6": "variational KL bounds",
    "q7": "JSD and Wasserstein distance",
}


def question_of(claim_id: str) -> str:
  """The question a claim id belongs to: ``"q3"`` for ``"q3.upper_bound"``."""
  return claim_id.split(".", 1)[0]


def question_title(question: str) -> str:
  return QUESTIONS.get(question, "")


EXPERIMENTS_DIR = Path(__file__).resolve().parents[1] / "experiments"

CAPTIONS = {
    "q2_cost": "Q2.3 (b, c): serving n new points, amortised encoder vs per-instance L-BFGS.",
    "q3_lk_vs_k": "Q3: L_K rises to log p(x); bias and variance both fall as 1/K.",
    "q3_snr_vs_k": "Q3: gradient signal-to-noise ratio vs K (IWAE encoder falls, decoder rises, "
                   "DReG encoder does not fall).",
    "q4_receptive_fields": "Q4: receptive field of pixel 33 for the four mask orders (the "
                           "network's own Jacobian).",
    "q4_blind_spot": "Q4: blind spot of A + B...B stacks versus depth.",
    "q5_discriminator": "Q5: f1 recovered from f0 and a trained discriminator; error vs n.",
    "q6_critics": "Q6: R1 and R2 maximised by flax critics; estimator variance vs KL.",
    "q7_parallel_lines": "Q7: parallel lines: JSD = log 2 with zero gradient, W1 = |theta|.",
}


def run_experiments(out: Path, quick: bool) -> list[str]:
  """Runs every experiment script into ``out``; returns the names of scripts that failed."""
  failed = []
  for script in sorted(EXPERIMENTS_DIR.glob("q*.py")):
    cmd = [sys.executable, str(script), "--out", str(out)] + (["--quick"] if quick else [])
    if subprocess.run(cmd, capture_output=True, text=True).returncode != 0:
      failed.append(script.name)
  return failed


def _table_rows(results: list[Result]):
  for r in results:
    e = r.evidence
    yield (r.claim.question, r.claim.id, r.claim.kind, r.claim.statement, fmt(e.measured),
           f"{e.relation} {fmt(e.reference)}", fmt(e.tolerance), r.verdict, r.ok, e.origin)


def render(results: list[Result], env: dict, fig_dir: Path, out: Path, failed=()) -> tuple[Path,
                                                                                            Path]:
  """Writes ``out/report.html`` (figures embedded as base64) and ``out/report.md``."""
  n_ok = sum(r.ok for r in results)
  head = (f"{n_ok}/{len(results)} claims as expected: every theorem holds and every erratum is "
          f"refuted" if n_ok == len(results) else f"{len(results) - n_ok} UNEXPECTED verdicts")
  figs = sorted(fig_dir.glob("*.png"))
  tables = {p.stem: p.read_text() for p in sorted(fig_dir.glob("*.md"))}
  errata = [r for r in results if r.claim.kind == "erratum"]

  md = [f"# gdm-jax report\n\n{head}.\n\nEnvironment: jax {env['jax']}, backend "
        f"{env['backend']}, x64 {env['x64']}, seed {env['seed']}.\n",
        "## Verdicts\n", "| question | claim | kind | statement | measured | reference | "
        "tolerance | verdict |", "|---|---|---|---|---|---|---|---|"]
  for q, i, k, s, m, ref, tol, v, ok, _ in _table_rows(results):
    md.append(f"| {q} | `{i}` | {k} | {s.replace('|', '/')} | {m} | {ref} | {tol} | {v} |")
  md.append("\n## Errata: written statements the numbers refute\n")
  for r in errata:
    md.append(f"- **{r.claim.question} `{r.claim.id}`**: {r.claim.statement}. Measured "
              f"{fmt(r.evidence.measured)} against {fmt(r.evidence.reference)}: {r.verdict}. "
              f"{r.evidence.detail.splitlines()[0]}")
  md.append("\n## Experiments\n")
  if failed:
    md.append(f"Experiments that failed to run: {', '.join(failed)}\n")
  for p in figs:
    md.append(f"### {p.stem}\n\n{CAPTIONS.get(p.stem, '')}\n\n![{p.stem}](figures/{p.name})\n")
    if p.stem in tables:
      md.append(tables[p.stem])
  for stem, t in tables.items():
    if not any(p.stem == stem for p in figs):
      md.append(f"### {stem}\n\n{t}")
  md_path = out / "report.md"
  md_path.write_text("\n".join(md) + "\n")

  rows = []
  for q, i, k, s, m, ref, tol, v, ok, origin in _table_rows(results):
    cls = "ok" if ok else "bad"
    rows.append(f"<tr class='{cls}'><td>{q}</td><td><code>{html.escape(i)}</code></td>"
                f"<td>{k}</td><td>{html.escape(s)}</td><td>{m}</td><td>{html.escape(ref)}</td>"
                f"<td title='{html.escape(origin)}'>{tol}</td><td>{v}</td></tr>")
  err_html = "".join(f"<li><b>{r.claim.question} <code>{r.claim.id}</code></b>: "
                     f"{html.escape(r.claim.statement)}<br><small>{html.escape(r.evidence.detail)}"
                     "</small></li>" for r in errata)
  fig_html = []
  for p in figs:
    b64 = base64.b64encode(p.read_bytes()).decode()
    tbl = tables.get(p.stem, "")
    fig_html.append(f"<figure id='{p.stem}'><img alt='{p.stem}' src='data:image/png;base64,{b64}'>"
                    f"<figcaption>{html.escape(CAPTIONS.get(p.stem, p.stem))}</figcaption>"
                    f"</figure><pre>{html.escape(tbl)}</pre>")
  page = f"""<!doctype html><html><head><meta charset='utf-8'><title>gdm-jax report</title>
<style>body{{font-family:sans-serif;max-width:1200px;margin:auto}}table{{border-collapse:collapse;
font-size:13px}}td,th{{border:1px solid #ccc;padding:3px 6px}}tr.bad{{background:#fcc}}
tr.ok td:last-child{{color:#070}}img{{max-width:100%}}pre{{font-size:11px}}</style></head><body>
<h1>gdm-jax report</h1><p id='summary'>{html.escape(head)}. jax {env['jax']}, {env['backend']},
x64 {env['x64']}, seed {env['seed']}.</p>
<h2>Verdicts</h2><table id='verdicts'><tr><th>question</th><th>claim</th><th>kind</th>
<th>statement</th><th>measured</th><th>reference</th><th>tolerance</th><th>verdict</th></tr>
{''.join(rows)}</table><h2>Errata</h2><ul id='errata'>{err_html}</ul>
<h2>Experiments</h2>{''.join(fig_html)}</body></html>"""
  html_path = out / "report.html"
  html_path.write_text(page)
  return html_path, md_path
