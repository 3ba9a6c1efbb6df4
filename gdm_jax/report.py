"""`gdm-jax report`: one self-contained HTML page (and a markdown twin) with a summary of the
verdicts (counts per question and verdict, a chart), a table of contents, the environment, the
claims table (with each claim's power and effect), the errata, and every experiment's figures and
tables (rendered as tables, not text). An experiment that failed is shown with its stderr."""
from __future__ import annotations

import base64
import csv
import datetime
import html
import os
import platform
from collections import Counter
from pathlib import Path
from typing import Sequence

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
    "mi": "mutual-information bounds",
    "vae": "a VAE on real data (scikit-learn's digits)",
}


def question_of(claim_id: str) -> str:
  """The question a claim id (or a figure name) belongs to: ``"q3"`` for ``"q3.upper_bound"``."""
  return claim_id.replace("_", ".").split(".", 1)[0]


def question_title(question: str) -> str:
  return QUESTIONS.get(question, "")


CAPTIONS = {
    "q2_cost": "Q2.3 (b, c): serving n new points, amortised encoder vs per-instance L-BFGS "
               "(the median of 5 warm timings; bars: their range).",
    "q3_lk_vs_k": "Q3: L_K rises to log p(x); bias and variance fall with K (about as 1/K). Bars "
                  "and bands: 95% confidence intervals over the replicates. The bias is on a "
                  "symmetric log axis, so estimates below 0 (noise at large K) are shown (x).",
    "q3_snr_vs_k": "Q3: gradient signal-to-noise ratio vs K (IWAE encoder falls, decoder rises, "
                   "DReG encoder does not fall). Bands: 95% bootstrap intervals.",
    "q4_receptive_fields": "Q4: receptive field of pixel 33 for the four mask orders (the "
                           "network's own Jacobian).",
    "q4_blind_spot": "Q4: blind spot of A + B...B stacks versus depth (exact, no Monte Carlo).",
    "q5_discriminator": "Q5: f1 recovered from f0 and a trained discriminator (log axis, clipped "
                        "at 10 max f1); error vs n. Bands and bars: 95% t intervals over the "
                        "seeds (the density's in log space).",
    "q6_critics": "Q6: R1 and R2 maximised by flax critics; estimator variance vs KL. Bands: "
                  "+- 1 SD of the batch bound; bars: 95% intervals of the variance (from its "
                  "4th moment). R1's variance is (2 KL + e^(2 KL) - 1)/n (dashed); at large KL "
                  "it lives in a tail the replicates rarely reach, so the sample variance falls "
                  "short of it and its interval is wide.",
    "q7_parallel_lines": "Q7: parallel lines blurred by sigma = 0.02: JSD = log 2 with zero "
                         "gradient once the lines stop overlapping (|theta| > ~5 sigma), W1 = "
                         "|theta| (quadrature; exact up to the grid, no Monte Carlo).",
    "mi_bounds": "MI: NWJ, DV and InfoNCE on Poole et al.'s Gaussian benchmark (d = 20, B = 64), "
                 "each with a separable flax critic trained on it (solid; bands +- 1 SD over "
                 "fresh batches) and at the optimal critic (dotted). InfoNCE saturates at log B; "
                 "NWJ's variance at its optimal critic is d rho^2/B + ((1-rho^2)^-d + "
                 "(1-rho^4)^-d - 2)/(B(B-1)) (dashed), which the sample variance falls short of "
                 "at large I: it lives in a tail that the batches rarely reach.",
    "vae_digits": "VAE (k=1) and IWAE (k=5, 50) on binarised 8x8 digits at the same budget: (a) "
                  "test L_100 during training; (b) test and training L_5000 (95% CI over data "
                  "points); (c) Cremer et al.'s approximation (L_5000 - L[q*]) and amortisation "
                  "(L[q*] - L[q_phi]) gaps; (d) IWAE gradient SNR vs K on the trained VAE.",
}

TABLE_CAPTIONS = {
    "q2_gaps": "Q2.3: approximation and amortisation gaps (nats, mean over 64 points) per encoder.",
    "q2_cost": "Q2.3: serving cost per n (seconds, steps, parameters).",
    "q3_lk_vs_k": "Q3: L_K over replicates (nats): mean, SE, bias log p(x) - mean, variance.",
    "q3_snr_vs_k": "Q3: gradient SNR (dimensionless) per estimator.",
    "q4_blind_spot": "Q4: unseen raster predecessors and receptive-field size (pixels) per depth.",
    "q5_error_vs_n": "Q5: E_P1 |log f1_hat - log f1| (nats) over seeds, per sample size n.",
    "q6_bound_variance": "Q6: R1 and R2 at their optimal critics (nats): mean and variance.",
    "q7_parallel_lines": "Q7: JSD (nats), its derivative (nats per unit theta) and W1.",
    "mi_bounds": "MI: bias (estimate - I) and variance (nats, nats^2) over fresh batches of each "
                 "estimator, at its trained critic and at the optimal critic.",
    "vae_digits_ll": "Digits: L_5000 per training objective (nats per image; SE over data points) "
                     "next to Burda et al.'s MNIST Table 1.",
    "vae_digits_ordering": "Digits: Burda et al.'s ordering as paired differences of test L_5000 "
                           "(same test points; paired SE).",
    "vae_digits_gaps": "Digits: Cremer et al.'s decomposition per model (nats; SE over test "
                       "points). L_5000 <= log p(x), so the approximation gap is under-estimated.",
    "vae_digits_snr": "Digits: IWAE gradient SNR vs K of the trained VAE (k=1), encoder and "
                      "decoder parameters.",
    "vae_digits_snr_slopes": "Digits: fitted log-log SNR slopes (95% intervals) vs Rainforth et "
                             "al.'s large-K rates.",
}


def dtype_name(env: dict) -> str:
  return "float64" if env.get("x64") else "float32"


def _version() -> str:
  try:
    from importlib.metadata import version
    return version("gdm-jax")
  except Exception:  # noqa: BLE001 - a source tree without metadata
    import gdm_jax
    return gdm_jax.__version__


def environment_rows(env: dict) -> list[tuple[str, str]]:
  """The environment as (name, value) rows: versions, backend, devices, dtype, seed, rates."""
  rows = [("gdm-jax", _version()), ("jax", str(env.get("jax", "?"))),
          ("backend", str(env.get("backend", "?"))),
          ("devices", ", ".join(map(str, env.get("devices", []))) or "?"),
          ("dtype", dtype_name(env)), ("seed", str(env.get("seed", "?")))]
  if "family_rate" in env:
    rows.append(("family-wise false-failure rate", f"{env['family_rate']:g}"))
  rows += [("python", platform.python_version()),
           ("platform", f"{platform.system()} {platform.machine()}"),
           ("written", datetime.datetime.now().astimezone().strftime("%Y-%m-%d %H:%M %Z"))]
  return rows


def _cell(v: str) -> str:
  """A CSV cell as the tables show it: numbers to 4 significant digits, text as it is."""
  try:
    x = float(v)
  except ValueError:
    return v
  if v.strip().lstrip("-").isdigit():
    return v.strip()
  return f"{x:.4g}"


def read_table(path: Path) -> tuple[list[str], list[list[str]]]:
  """An experiment's ``name.csv``: (header, rows), cells formatted for display."""
  with open(path, newline="") as f:
    rows = list(csv.reader(f))
  if not rows:
    return [], []
  return rows[0], [[_cell(c) for c in r] for r in rows[1:]]


def _html_table(header, rows, tid: str, caption: str) -> str:
  head = "".join(f"<th>{html.escape(h)}</th>" for h in header)
  body = "".join("<tr>" + "".join(f"<td>{html.escape(c)}</td>" for c in r) + "</tr>"
                 for r in rows)
  return (f"<div class='data'><p class='tcap'>{html.escape(caption)}</p><table class='data' "
          f"id='{html.escape(tid)}'><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"
          "</div>")


def _md_table(header, rows) -> str:
  esc = lambda s: s.replace("|", "/")
  return ("| " + " | ".join(map(esc, header)) + " |\n|" + "---|" * len(header) + "\n"
          + "".join("| " + " | ".join(map(esc, r)) + " |\n" for r in rows))


def summary_counts(results: Sequence[Result]) -> dict[str, Counter]:
  """Per question: how many claims ``holds``, ``refuted``, ``error``, and ``ok`` (as expected)."""
  out: dict[str, Counter] = {}
  for r in results:
    c = out.setdefault(question_of(r.claim.id), Counter())
    c[r.verdict] += 1
    c["ok"] += r.ok
    c["total"] += 1
  return out


COLOURS = {"holds": "#2e9b4f", "refuted": "#3a6fc4", "error": "#d62828", "unexpected": "#f4a300"}


def verdict_chart(counts: dict[str, Counter]) -> str:
  """An inline SVG: one stacked bar per question, claims that hold (green), are refuted (blue),
  errors (red), labelled with how many are as expected (in red when some are not)."""
  bar_h, gap, left, width = 18, 6, 210, 360
  most = max((c["total"] for c in counts.values()), default=1)
  parts, y = [], 24
  legend = "".join(
      f"<rect x='{left + i * 110}' y='2' width='12' height='12' fill='{COLOURS[k]}'/>"
      f"<text x='{left + 16 + i * 110}' y='12'>{k}</text>" for i, k in
      enumerate(("holds", "refuted", "error")))
  for q, c in counts.items():
    x = left
    parts.append(f"<text x='0' y='{y + 13}'>{html.escape(q.upper())} "
                 f"{html.escape(question_title(q))}</text>")
    for k in ("holds", "refuted", "error"):
      if c[k]:
        w = width * c[k] / most
        parts.append(f"<rect x='{x:.1f}' y='{y}' width='{w:.1f}' height='{bar_h}' "
                     f"fill='{COLOURS[k]}'><title>{q.upper()}: {c[k]} {k}</title></rect>")
        x += w
    bad = c["total"] - c["ok"]
    label = f"{c['ok']}/{c['total']} as expected" + (f", {bad} NOT" if bad else "")
    style = " fill='#d62828' font-weight='bold'" if bad else ""
    parts.append(f"<text x='{x + 6:.1f}' y='{y + 13}'{style}>{label}</text>")
    y += bar_h + gap
  return (f"<svg id='verdict-chart' xmlns='http://www.w3.org/2000/svg' width='{left + width + 190}'"
          f" height='{y + 4}' font-family='sans-serif' font-size='12' role='img' "
          f"aria-label='verdicts per question'>{legend}{''.join(parts)}</svg>")


def _figures(fig_dir: Path, files=None):
  """{question: ([figure paths], [table stems])}, in question order, of the files in ``fig_dir``
  (only those named in ``files`` when given)."""
  keep = lambda p: files is None or p.name in files
  order = lambda names: lambda p: (names.index(p.stem) if p.stem in names else len(names), p.stem)
  figs = sorted((p for p in fig_dir.glob("*.png") if keep(p)), key=order(list(CAPTIONS)))
  tables = [p.stem for p in sorted((p for p in fig_dir.glob("*.csv") if keep(p)),
                                   key=order(list(TABLE_CAPTIONS)))]
  out: dict[str, tuple[list[Path], list[str]]] = {}
  for p in figs:
    out.setdefault(question_of(p.stem), ([], []))[0].append(p)
  for t in tables:
    out.setdefault(question_of(t), ([], []))[1].append(t)
  return dict(sorted(out.items()))


def render(results: list[Result], env: dict, fig_dir: Path, out: Path, runs=(),
           files=None) -> tuple[Path, Path]:
  """Writes ``out/report.html`` (figures embedded as base64, nothing external) and
  ``out/report.md``. ``runs`` are the experiments' ``ExperimentRun``s (a failed one is shown
  with its exit code and stderr); ``files``: the names of the figures and tables to show (those
  this run's experiments wrote; None: every one in ``fig_dir``)."""
  fig_dir, out = Path(fig_dir), Path(out)
  n_ok = sum(r.ok for r in results)
  head = (f"{n_ok}/{len(results)} claims as expected: every theorem holds and every erratum is "
          f"refuted" if n_ok == len(results) else
          f"{len(results) - n_ok} of {len(results)} claims NOT as expected")
  failed = [r for r in runs if not r.ok]
  if failed:
    head += f"; {len(failed)} experiment{'s' if len(failed) > 1 else ''} FAILED"
  counts = summary_counts(results)
  env_rows = environment_rows(env)
  groups = _figures(fig_dir, files)
  errata = [r for r in results if r.claim.kind == "erratum"]
  by_q: dict[str, list[Result]] = {}
  for r in results:
    by_q.setdefault(question_of(r.claim.id), []).append(r)
  fig_rel = os.path.relpath(fig_dir, out)

  # --- markdown twin
  md = [f"# gdm-jax report\n\n{head}.\n", "## Summary\n",
        "| question | holds | refuted | error | as expected |", "|---|---|---|---|---|"]
  for q, c in counts.items():
    md.append(f"| {q.upper()} {question_title(q)} | {c['holds']} | {c['refuted']} | "
              f"{c['error']} | {c['ok']}/{c['total']} |")
  md += ["\n## Environment\n", _md_table(["", ""], [list(r) for r in env_rows]),
         "## Verdicts\n",
         "| claim | question | kind | statement | measured | reference | tolerance | detects | "
         "effect | verdict |", "|---|---|---|---|---|---|---|---|---|---|"]
  for r in results:
    e = r.evidence
    md.append(f"| `{r.claim.id}` | {r.claim.question} | {r.claim.kind} | "
              f"{r.claim.statement.replace('|', '/')} | {fmt(e.measured)} | "
              f"{e.relation} {fmt(e.reference)} | {fmt(e.tolerance)} | {fmt(e.power)} | "
              f"{'-' if e.effect is None else fmt(e.effect)} | "
              f"{r.verdict}{'' if r.ok else ' (UNEXPECTED)'} |")
  md.append("\n## Errata: written statements the numbers refute\n")
  for r in errata:
    detail = (r.evidence.detail.splitlines() or [""])[0]
    md.append(f"- **{r.claim.question} `{r.claim.id}`**: {r.claim.statement}. Measured "
              f"{fmt(r.evidence.measured)} against {fmt(r.evidence.reference)}: {r.verdict}. "
              f"{detail}")
  md.append("\n## Experiments\n")
  for run in failed:
    md.append(f"**{run.name} FAILED** (exit code {run.returncode}, {run.seconds:.1f} s):\n\n"
              "```\n" + "\n".join(run.stderr.strip().splitlines()[-40:]) + "\n```\n")
  for q, (figs, tables) in groups.items():
    md.append(f"### {q.upper()} {question_title(q)}\n")
    for p in figs:
      md.append(f"{CAPTIONS.get(p.stem, p.stem)}\n\n![{p.stem}]({fig_rel}/{p.name})\n")
    for t in tables:
      header, rows = read_table(fig_dir / f"{t}.csv")
      md.append(f"{TABLE_CAPTIONS.get(t, t)}\n\n{_md_table(header, rows)}")
  md_path = out / "report.md"
  md_path.write_text("\n".join(md) + "\n")

  # --- HTML page
  toc = ["<li><a href='#summary'>Summary</a></li>",
         "<li><a href='#environment'>Environment</a></li>",
         "<li><a href='#verdicts'>Verdicts</a><ul>"
         + "".join(f"<li><a href='#verdicts-{q}'>{q.upper()} {html.escape(question_title(q))}"
                   "</a></li>" for q in by_q) + "</ul></li>",
         "<li><a href='#errata'>Errata</a></li>",
         "<li><a href='#experiments'>Experiments</a><ul>"
         + ("<li><a href='#failed-experiments'>failed experiments</a></li>" if failed else "")
         + "".join(f"<li><a href='#exp-{q}'>{q.upper()} {html.escape(question_title(q))}</a> ("
                   + ", ".join(f"<a href='#{p.stem}'>{p.stem}</a>" for p in figs) + ")</li>"
                   for q, (figs, _) in groups.items()) + "</ul></li>"]
  summary_rows = "".join(
      f"<tr class='{'ok' if c['ok'] == c['total'] else 'bad'}'><td>{q.upper()}</td>"
      f"<td>{html.escape(question_title(q))}</td><td>{c['holds']}</td><td>{c['refuted']}</td>"
      f"<td>{c['error']}</td><td>{c['ok']}/{c['total']}</td></tr>" for q, c in counts.items())
  total = Counter()
  for c in counts.values():
    total.update(c)
  summary_rows += (f"<tr class='total'><td>all</td><td></td><td>{total['holds']}</td>"
                   f"<td>{total['refuted']}</td><td>{total['error']}</td>"
                   f"<td>{total['ok']}/{total['total']}</td></tr>")
  env_html = "".join(f"<tr><th>{html.escape(k)}</th><td>{html.escape(v)}</td></tr>"
                     for k, v in env_rows)
  rows = []
  for q, rs in by_q.items():
    rows.append(f"<tr class='section' id='verdicts-{q}'><th colspan='8'>{q.upper()} "
                f"{html.escape(question_title(q))}</th></tr>")
    for r in rs:
      e = r.evidence
      effect = "-" if e.effect is None else fmt(e.effect)
      what = (f"<br><small>{html.escape(e.effect_what)}</small>"
              if e.effect is not None and e.effect_what else "")
      verdict = html.escape(r.verdict) + ("" if r.ok else
                                          f" (expected {html.escape(r.claim.expected_verdict)})")
      rows.append(
          f"<tr class='{'ok' if r.ok else 'bad'}'><td><code>{html.escape(r.claim.id)}</code><br>"
          f"<small>{html.escape(r.claim.question)} {r.claim.kind}</small></td>"
          f"<td class='stmt'>{html.escape(r.claim.statement)}</td>"
          f"<td class='num'>{fmt(e.measured)}</td>"
          f"<td class='num'>{html.escape(e.relation)} {fmt(e.reference)}</td>"
          f"<td class='num'>{fmt(e.tolerance)}<br><small>{html.escape(e.origin)}</small></td>"
          f"<td class='num'>{fmt(e.power)}</td><td class='num'>{effect}{what}</td>"
          f"<td class='verdict'>{verdict}</td></tr>")
  err_html = "".join(f"<li><b>{r.claim.question} <code>{r.claim.id}</code></b>: "
                     f"{html.escape(r.claim.statement)}<br><small>{html.escape(r.evidence.detail)}"
                     "</small></li>" for r in errata)
  exp_html = []
  if failed:
    exp_html.append("<div id='failed-experiments' class='failed'><h3>Failed experiments</h3>")
    for run in failed:
      exp_html.append(f"<p><b>{html.escape(run.name)}</b> exited with code {run.returncode} "
                      f"after {run.seconds:.1f} s; its stderr (the last 60 lines):</p><pre>"
                      + html.escape("\n".join(run.stderr.strip().splitlines()[-60:]))
                      + "</pre>")
    exp_html.append("</div>")
  if not groups:
    exp_html.append("<p class='bad'>No figures or tables were found in "
                    f"{html.escape(str(fig_dir))}.</p>")
  for q, (figs, tables) in groups.items():
    exp_html.append(f"<section id='exp-{q}'><h3>{q.upper()} {html.escape(question_title(q))}"
                    "</h3>")
    for p in figs:
      b64 = base64.b64encode(p.read_bytes()).decode()
      exp_html.append(f"<figure id='{p.stem}'><img alt='{p.stem}' "
                      f"src='data:image/png;base64,{b64}'><figcaption><b>{p.stem}</b>: "
                      f"{html.escape(CAPTIONS.get(p.stem, ''))}</figcaption></figure>")
    for t in tables:
      header, trows = read_table(fig_dir / f"{t}.csv")
      exp_html.append(_html_table(header, trows, f"table-{t}", TABLE_CAPTIONS.get(t, t)))
    exp_html.append("</section>")
  page = f"""<!doctype html><html lang='en'><head><meta charset='utf-8'>
<title>gdm-jax report</title><style>
body{{font-family:sans-serif;max-width:1200px;margin:auto;padding:0 12px;line-height:1.35}}
table{{border-collapse:collapse;font-size:13px;margin:8px 0}}
td,th{{border:1px solid #ccc;padding:3px 6px;vertical-align:top;text-align:left}}
td.num{{font-family:monospace;white-space:nowrap}} small{{color:#555}}
td.num small{{display:block;white-space:normal;min-width:12em;max-width:22em;font-family:sans-serif}} td.stmt{{min-width:16em;max-width:30em}}
tr.bad{{background:#fdd}} tr.ok td.verdict{{color:#070}} tr.bad td.verdict{{color:#b00;
font-weight:bold}} tr.section th{{background:#eef;font-size:14px}} tr.total td{{font-weight:bold}}
p.tcap{{font-size:13px;color:#333;margin:10px 0 2px}}
table.data td{{font-family:monospace}} figure{{margin:12px 0}} img{{max-width:100%}}
figcaption{{font-size:13px;color:#333}} .failed{{border:2px solid #d62828;padding:4px 12px;
background:#fff4f4}} pre{{font-size:11px;white-space:pre-wrap}} #headline{{font-size:18px}}
#headline.bad{{color:#b00}} nav ul{{margin:2px 0}}</style></head><body>
<h1>gdm-jax report</h1>
<p id='headline' class='{'ok' if n_ok == len(results) and not failed else 'bad'}'>
{html.escape(head)}.</p>
<nav id='toc'><h2>Contents</h2><ul>{''.join(toc)}</ul></nav>
<section id='summary'><h2>Summary</h2>
<table id='summary-table'><thead><tr><th>question</th><th>about</th><th>holds</th><th>refuted</th>
<th>error</th><th>as expected</th></tr></thead><tbody>{summary_rows}</tbody></table>
{verdict_chart(counts)}
<p><small>A theorem must hold and an erratum (a false statement of the written answers) must be
refuted; <i>error</i> means no finite evidence or too little power (detects &ge; effect).</small>
</p></section>
<section id='environment'><h2>Environment</h2><table id='environment-table'>{env_html}</table>
</section>
<section><h2 id='verdicts'>Verdicts</h2><table id='verdicts-table'><thead><tr><th>claim</th>
<th>statement</th><th>measured</th><th>reference</th><th>tolerance (origin)</th>
<th title='smallest discrepancy detected with probability 0.99'>detects</th>
<th title='size of the effect the claim is about'>effect</th><th>verdict</th></tr></thead>
<tbody>{''.join(rows)}</tbody></table></section>
<section id='errata'><h2>Errata</h2><ul>{err_html}</ul></section>
<section id='experiments'><h2>Experiments</h2>{''.join(exp_html)}</section></body></html>"""
  html_path = out / "report.html"
  html_path.write_text(page)
  return html_path, md_path
