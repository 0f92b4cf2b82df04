"""`python -m data report --html FILE`: the weekly meeting's agenda as ONE self-contained HTML file.

Made for e-mail: no JavaScript, no network (charts are inline SVG, styles inline, a Content-Security-
Policy that forbids scripts and remote content), every CRM string HTML-escaped. The agenda is the
meeting mode's (metrics.agenda): what changed since the last meeting, leaderboard, forecast vs plan,
stalled deals, data hygiene. Labels come from the app's locale files (ui/locales/<lang>.toml, read by
path: data/ never imports ui/), so the report and the dashboard speak the same words.
"""
from __future__ import annotations

import html
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

import polars as pl

from data.locales import catalog
from data.store import Store
from metrics.agenda import Agenda, meeting_agenda
from metrics.schema import empty

LANGS: tuple[str, ...] = ("en", "zh", "tr")
TABLES = ("deals", "reps", "accounts", "targets", "stages", "stage_history")   # no activities: none are shown
BAR_COLOURS = {"total": "#0072B2", "increase": "#009E73", "decrease": "#D55E00"}
FONT = "'Noto Sans CJK SC','Noto Sans SC','Microsoft YaHei','PingFang SC',Inter,Arial,sans-serif"
_SYMBOLS = {"USD": "$", "EUR": "€", "GBP": "£", "CNY": "¥", "TRY": "₺"}
_EN_MONTHS = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"]
_TR_MONTHS = ["Ocak", "Şubat", "Mart", "Nisan", "Mayıs", "Haziran", "Temmuz", "Ağustos", "Eylül", "Ekim", "Kasım",
              "Aralık"]
CHECKS = ("overdue_close", "missing_amount", "skipped_stages", "duplicate", "missing_owner", "entry_lag")


# ------------------------------------------------------------------------------------ labels
@dataclass(frozen=True)
class Words:
    """Labels, numbers and dates in one language (the report's small copy of ui.i18n / ui.format)."""

    lang: str
    currency: str | None

    def t(self, key: str, **params: Any) -> str:
        text = catalog(self.lang).get(key) or catalog("en").get(key) or key
        try:
            return text.format(**params) if params else text
        except (KeyError, IndexError, ValueError):
            return text

    def _group(self, text: str) -> str:
        return text.replace(",", "\x00").replace(".", ",").replace("\x00", ".") if self.lang == "tr" else text

    def number(self, x: float | int | None, decimals: int = 0) -> str:
        return "—" if x is None else self._group(f"{x:,.{decimals}f}")

    def compact(self, x: float | int | None) -> str:
        if x is None:
            return "—"
        v, a = float(x), abs(float(x))
        if self.lang == "zh":
            if a >= 1e8:
                return f"{v / 1e8:.2f}亿"
            return f"{v / 1e4:.1f}万" if a >= 1e4 else self.number(v)
        for size, en, tr in ((1e9, "B", " Mr"), (1e6, "M", " Mn"), (1e3, "K", " B")):
            if a >= size:
                return self._group(f"{v / size:,.1f}") + (en if self.lang == "en" else tr)
        return self.number(v)

    def money(self, x: float | int | None, short: bool = False) -> str:
        if x is None:
            return "—"
        body = self.compact(x) if short else self.number(x)
        sym = _SYMBOLS.get((self.currency or "").upper(), "")
        if not sym:
            return body if not self.currency else f"{body} {self.currency}"
        return f"{body} {sym}" if self.lang == "tr" else f"{sym}{body}"

    def signed(self, x: float | None) -> str:
        """A change with its sign in front of the currency: +¥1,200 / −¥300."""
        if x is None:
            return "—"
        return ("−" if x < 0 else "+") + self.money(abs(x))

    def pct(self, x: float | None, decimals: int = 1) -> str:
        if x is None:
            return "—"
        body = self._group(f"{x * 100:,.{decimals}f}")
        return f"%{body}" if self.lang == "tr" else f"{body}%"

    def day(self, d: date | None) -> str:
        if d is None:
            return "—"
        if self.lang == "zh":
            return f"{d.year}年{d.month}月{d.day}日"
        months = _TR_MONTHS if self.lang == "tr" else _EN_MONTHS
        return f"{d.day} {months[d.month - 1]} {d.year}"

    def unit(self) -> str:
        return self.currency or self.t("history.unit_amount")


def esc(text: object) -> str:
    """Any text for HTML or SVG: escaped, quotes included."""
    return html.escape("" if text is None else str(text), quote=True)


# ------------------------------------------------------------------------------------ data
def single_currency(deals: pl.DataFrame) -> str | None:
    """The one currency of the deals, or None when there are none or several."""
    if "currency" not in deals.columns:
        return None
    found = deals["currency"].drop_nulls().unique().to_list()
    return found[0] if len(found) == 1 else None


def build_agenda(store: Store, *, period_from: date | None, period_to: date | None, as_of: date,
                 from_snapshot: date | None = None, to_snapshot: date | None = None) -> tuple[Agenda, str | None, bool]:
    """The meeting agenda over the whole store: (agenda, currency, demo?)."""
    cur = store.cursor()
    frames = {name: store.frame(name, cur) for name in TABLES}
    frames["activities"] = empty("activities")
    snapshots = store.frame("deal_snapshots", cur)
    agenda = meeting_agenda(**frames, snapshots=snapshots, as_of=as_of, period_from=period_from,
                            period_to=period_to, from_snapshot=from_snapshot, to_snapshot=to_snapshot)
    return agenda, single_currency(frames["deals"]), store.has_demo(cur)


# ------------------------------------------------------------------------------------ SVG charts
def _svg(width: int, height: int, body: list[str], label: str) -> str:
    return (f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
            f'viewBox="0 0 {width} {height}" role="img" aria-label="{esc(label)}" '
            f'style="max-width:100%;height:auto;font-family:{FONT}">' + "".join(body) + "</svg>")


def _text(x: float, y: float, text: str, *, size: int = 12, anchor: str = "middle", weight: str = "normal",
          fill: str = "#1F2430", rotate: int = 0) -> str:
    turn = f' transform="rotate({rotate} {x:.1f} {y:.1f})"' if rotate else ""
    return (f'<text x="{x:.1f}" y="{y:.1f}" font-size="{size}" text-anchor="{anchor}" font-weight="{weight}" '
            f'fill="{fill}"{turn}>{esc(text)}</text>')


def _wrap(text: str, width: int = 12) -> list[str]:
    words, lines, line = text.split(), [], ""
    for word in words:
        if line and len(line) + 1 + len(word) > width:
            lines.append(line)
            line = word
        else:
            line = f"{line} {word}".strip()
    lines.append(line)
    return lines[:2] if words else [text]


def _axis_floor(spans: list[tuple[float, float]]) -> float:
    """Where the value axis starts: 0, unless the running total stays far from 0 — then a little
    below its lowest level, so the moves are visible (the totals' values are printed on them)."""
    lo, hi = min(a for a, _ in spans[1:-1] or spans), max(b for _, b in spans)
    lo = min([lo] + [b for _, b in (spans[0], spans[-1])])
    if hi <= 0 or lo <= 0 or (hi - lo) / hi > 0.5:
        return 0.0
    return max(lo - (hi - lo) * 0.6, 0.0)


def svg_waterfall(bars: pl.DataFrame, w: Words) -> str:
    """The pipeline waterfall: start and end are totals, each move floats from the running total."""
    width, height, top, bottom, left = 960, 340, 30, 60, 70
    rows = bars.to_dicts()
    running, spans = 0.0, []
    for row in rows:
        if row["kind"] == "total":
            spans.append((0.0, row["amount"]))
            running = row["amount"]
        else:
            nxt = running + row["signed"]
            spans.append((min(running, nxt), max(running, nxt)))
            running = nxt
    hi = max([b for _, b in spans] + [1.0])
    floor = _axis_floor(spans) if rows else 0.0
    scale = (height - top - bottom) / max(hi - floor, 1.0)
    step = (width - left - 10) / max(len(rows), 1)
    base = height - bottom
    body = [f'<line x1="{left}" y1="{base}" x2="{width - 10}" y2="{base}" stroke="#8C8C8C"/>',
            _text(14, top + (base - top) / 2, w.t("history.waterfall_y", unit=w.unit()), size=12, rotate=-90)]
    for frac in (0.0, 0.5, 1.0):
        value = floor + frac * (hi - floor)
        body.append(_text(left - 6, base - frac * (hi - floor) * scale + 4, w.compact(value), size=11, anchor="end",
                          fill="#5A5F6B"))
    for i, (row, (lo, up)) in enumerate(zip(rows, spans, strict=True)):
        x = left + i * step + step * 0.15
        bw = step * 0.7
        lo = max(lo, floor)
        y, h = base - (up - floor) * scale, max((up - lo) * scale, 1.0)
        body.append(f'<rect x="{x:.1f}" y="{y:.1f}" width="{bw:.1f}" height="{h:.1f}" '
                    f'fill="{BAR_COLOURS[row["kind"]]}"><title>{esc(w.t("history.bar_" + row["bar"]))}: '
                    f'{esc(w.money(row["amount"]))}</title></rect>')
        sign = "" if row["kind"] == "total" else ("+" if row["kind"] == "increase" else "−")
        body.append(_text(x + bw / 2, y - 6, sign + w.compact(row["amount"]), size=12, weight="bold"))
        for j, line in enumerate(_wrap(w.t("history.bar_" + row["bar"]))):
            body.append(_text(x + bw / 2, base + 18 + 15 * j, line, size=12))
    return _svg(width, height, body, w.t("history.waterfall"))


def svg_hbars(rows: list[tuple[str, float, str, str]], w: Words, label: str, *, label_width: int = 220) -> str:
    """Horizontal bars: (label, value, colour, value text) per row."""
    width, bar_h, gap, top = 960, 22, 8, 10
    height = top * 2 + len(rows) * (bar_h + gap)
    hi = max([v for _, v, _, _ in rows] + [1.0])
    span = width - label_width - 140
    body = []
    for i, (name, value, colour, shown) in enumerate(rows):
        y = top + i * (bar_h + gap)
        length = max(value / hi * span, 1.0) if value > 0 else 0.0
        body.append(_text(label_width - 8, y + bar_h * 0.72, name, size=13, anchor="end"))
        body.append(f'<rect x="{label_width}" y="{y}" width="{length:.1f}" height="{bar_h}" fill="{colour}"/>')
        body.append(_text(label_width + length + 6, y + bar_h * 0.72, shown, size=13, anchor="start"))
    return _svg(width, max(height, 40), body, label)


def svg_forecast(agenda: Agenda, w: Words) -> str:
    """Target, won so far and each method's forecast with its 10–90% range, on one scale."""
    plan, fc = agenda.plan, agenda.forecasts
    rows: list[tuple[str, float, float | None, float | None, str]] = []
    if plan.get("target") is not None:
        rows.append((w.t("meeting.target"), float(plan["target"]), None, None, "#8C8C8C"))
    rows.append((w.t("meeting.won_to_date"), float(plan.get("actual") or 0.0), None, None, "#009E73"))
    for r in fc.iter_rows(named=True):
        name = w.t(f"meeting.method_{r['method']}") + (" ★" if r["method"] == agenda.best_method else "")
        rows.append((name, r["forecast"], r["forecast_low"], r["forecast_high"], "#0072B2"))
    width, bar_h, gap, top, label_width = 960, 24, 10, 10, 240
    height = top * 2 + len(rows) * (bar_h + gap)
    hi = max([max(v, h or 0.0) for _, v, _, h, _ in rows] + [1.0])
    span = width - label_width - 150
    body = []
    for i, (name, value, low, high, colour) in enumerate(rows):
        y = top + i * (bar_h + gap)
        length = max(value / hi * span, 1.0) if value > 0 else 0.0
        body.append(_text(label_width - 8, y + bar_h * 0.72, name, size=13, anchor="end"))
        body.append(f'<rect x="{label_width}" y="{y}" width="{length:.1f}" height="{bar_h}" fill="{colour}"/>')
        if low is not None and high is not None:
            x1, x2 = label_width + low / hi * span, label_width + high / hi * span
            mid = y + bar_h / 2
            body.append(f'<line x1="{x1:.1f}" y1="{mid}" x2="{x2:.1f}" y2="{mid}" stroke="#1F2430" stroke-width="2"/>'
                        f'<line x1="{x1:.1f}" y1="{y + 4}" x2="{x1:.1f}" y2="{y + bar_h - 4}" stroke="#1F2430" stroke-width="2"/>'
                        f'<line x1="{x2:.1f}" y1="{y + 4}" x2="{x2:.1f}" y2="{y + bar_h - 4}" stroke="#1F2430" stroke-width="2"/>')
        end = label_width + max(length, (high or 0.0) / hi * span)
        body.append(_text(end + 6, y + bar_h * 0.72, w.money(value, short=True), size=13, anchor="start"))
    return _svg(width, height, body, w.t("meeting.agenda_forecast"))


# ------------------------------------------------------------------------------------ HTML pieces
def _table(headers: list[str], rows: list[list[str]], numeric: set[int] | None = None) -> str:
    numeric = numeric or set()
    head = "".join(f'<th style="text-align:{"right" if i in numeric else "left"}">{esc(h)}</th>'
                   for i, h in enumerate(headers))
    body = "".join(
        "<tr>" + "".join(f'<td style="text-align:{"right" if i in numeric else "left"}">{esc(c)}</td>'
                         for i, c in enumerate(row)) + "</tr>"
        for row in rows
    )
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def _facts(facts: list[tuple[str, str]]) -> str:
    return '<div class="facts">' + "".join(
        f'<div class="fact"><div class="label">{esc(k)}</div><div class="value">{esc(v)}</div></div>' for k, v in facts
    ) + "</div>"


def _more(w: Words, shown: int, total: int) -> str:
    return f'<p class="note">{esc(w.t("meeting.more", n=w.number(total - shown)))}</p>' if total > shown else ""


def _deal_list(w: Words, bar: str, frame: pl.DataFrame, total: int) -> str:
    title = f'<h3>{esc(w.t("meeting.list_" + bar))} · {esc(w.number(total))}</h3>'
    if frame.height == 0:
        return title + f'<p class="note">{esc(w.t("meeting.none"))}</p>'
    after = bar in ("created", "pulled_in")
    headers = [w.t("meeting.col_deal"), w.t("meeting.col_account"), w.t("meeting.col_rep"), w.t("meeting.col_stage"),
               w.t("meeting.col_close"), w.t("meeting.col_amount")]
    rows = []
    for r in frame.iter_rows(named=True):
        close = (w.day(r["close_before"]) + " → " + w.day(r["close_after"])) if bar == "pushed_out" else \
            w.day(r["close_after"])
        stage = r["stage_after"] if after or bar in ("won", "lost") else r["stage_before"]
        amount = r["amount_after"] if after else r["amount_before"]
        rows.append([r["name"], r["account"] or "", r["rep"] or "", stage or "", close, w.money(amount)])
    return title + _table(headers, rows, {5}) + _more(w, frame.height, total)


def _section_changes(agenda: Agenda, w: Words) -> str:
    out = [f'<h2>1 · {esc(w.t("meeting.agenda_changes"))}</h2>']
    if agenda.change is None:
        return "".join(out) + f'<p class="note">{esc(w.t("meeting.no_history"))}</p>'
    ch = agenda.change
    out.append(f'<p class="note">{esc(w.t("meeting.since", start=w.day(ch.from_snapshot), end=w.day(ch.to_snapshot)))}'
               f"</p>")
    out.append(f'<div class="chart">{svg_waterfall(ch.bars, w)}</div>')
    rows = [[w.t("history.bar_" + r["bar"]), w.money(r["amount"]) if r["kind"] == "total" else w.signed(r["signed"]),
             w.number(r["deals"])] for r in ch.bars.iter_rows(named=True)]
    out.append(_table([w.t("meeting.col_bar"), w.t("meeting.col_amount"), w.t("meeting.col_deals")], rows, {1, 2}))
    for bar in ("created", "won", "lost", "pushed_out"):
        out.append(_deal_list(w, bar, agenda.deal_lists[bar], agenda.totals.get(bar, 0)))
    return "".join(out)


def _section_leaderboard(agenda: Agenda, w: Words, top: int = 15) -> str:
    board = agenda.leaderboard.head(top)
    out = [f'<h2>2 · {esc(w.t("meeting.agenda_leaderboard"))}</h2>']
    if board.height == 0:
        return "".join(out) + f'<p class="note">{esc(w.t("meeting.none"))}</p>'
    bars = [(f'{r["rank"]}. {r["rep"]}', float(r["won_revenue"] or 0.0), "#0072B2", w.money(r["won_revenue"], short=True))
            for r in board.iter_rows(named=True)]
    out.append(f'<div class="chart">{svg_hbars(bars, w, w.t("meeting.agenda_leaderboard"))}</div>')
    headers = [w.t("meeting.col_rank"), w.t("meeting.col_rep"), w.t("meeting.col_team"), w.t("meeting.col_won_revenue"),
               w.t("meeting.col_won_deals"), w.t("meeting.col_win_rate"), w.t("meeting.col_attainment")]
    rows = [[str(r["rank"]), r["rep"] or "", r["team"] or "", w.money(r["won_revenue"]), w.number(r["won_deals"]),
             w.pct(r["win_rate"]), w.pct(r["attainment"])] for r in board.iter_rows(named=True)]
    return "".join(out) + _table(headers, rows, {0, 3, 4, 5, 6}) + _more(w, board.height, agenda.leaderboard.height)


def _section_forecast(agenda: Agenda, w: Words) -> str:
    plan = agenda.plan
    out = [f'<h2>3 · {esc(w.t("meeting.agenda_forecast"))}</h2>']
    facts = [(w.t("meeting.target"), w.money(plan.get("target"))), (w.t("meeting.won_to_date"), w.money(plan.get("actual"))),
             (w.t("meeting.attainment"), w.pct(plan.get("attainment"))), (w.t("meeting.pace"), w.pct(plan.get("pace"))),
             (w.t("meeting.coverage"), w.number(plan.get("pipeline_coverage"), 1) + "×"
              if plan.get("pipeline_coverage") is not None else "—")]
    out.append(_facts(facts))
    if agenda.forecasts.height:
        out.append(f'<div class="chart">{svg_forecast(agenda, w)}</div>')
        headers = [w.t("meeting.col_method"), w.t("meeting.forecast"), w.t("meeting.col_range"), w.t("meeting.col_mape")]
        mape = {r["method"]: r for r in agenda.accuracy.iter_rows(named=True)}
        rows = [[w.t(f"meeting.method_{r['method']}") + (" ★" if r["method"] == agenda.best_method else ""),
                 w.money(r["forecast"]), f"{w.money(r['forecast_low'])} – {w.money(r['forecast_high'])}",
                 w.pct(mape.get(r["method"], {}).get("mape"))] for r in agenda.forecasts.iter_rows(named=True)]
        out.append(_table(headers, rows, {1, 2, 3}))
    out.append(f'<p class="note">{esc(_best_note(agenda, w))}</p>')
    return "".join(out)


def _best_note(agenda: Agenda, w: Words) -> str:
    row = agenda.accuracy.filter(pl.col("method") == agenda.best_method)
    n = int(row["snapshots"][0]) if row.height else 0
    if n >= 3 and row["mape"][0] is not None:
        return w.t("meeting.best_method", method=w.t(f"meeting.method_{agenda.best_method}"), mape=w.pct(row["mape"][0]),
                   n=w.number(n))
    return w.t("meeting.default_method")


def _section_stalled(agenda: Agenda, w: Words) -> str:
    out = [f'<h2>4 · {esc(w.t("meeting.agenda_stalled"))}</h2>',
           f'<p class="note">{esc(w.t("meeting.stalled_caption", n=w.number(agenda.stalled.height)))}</p>']
    if agenda.stalled.height == 0:
        return "".join(out) + f'<p class="note">{esc(w.t("meeting.none"))}</p>'
    headers = [w.t("meeting.col_deal"), w.t("meeting.col_account"), w.t("meeting.col_rep"), w.t("meeting.col_stage"),
               w.t("meeting.col_amount"), w.t("meeting.col_days_in_stage"), w.t("meeting.col_usual_days")]
    rows = [[r["name"], r["account"] or "", r["rep"] or "", r["stage"] or "", w.money(r["amount"]),
             w.number(r["days_in_stage"]), w.number(r["threshold_days"])] for r in agenda.stalled.iter_rows(named=True)]
    return "".join(out) + _table(headers, rows, {4, 5, 6}) + _more(w, agenda.stalled.height, agenda.totals["stalled"])


def _section_hygiene(agenda: Agenda, w: Words, top: int = 10) -> str:
    facts = [(w.t("meeting.quality_score"), f"{w.number(agenda.quality_score)} / 100"),
             (w.t("meeting.issues"), w.number(agenda.totals.get("hygiene", 0))),
             (w.t("meeting.deals_with_issues"), w.number(agenda.totals.get("hygiene_deals", 0)))]
    out = [f'<h2>5 · {esc(w.t("meeting.agenda_hygiene"))}</h2>', _facts(facts),
           f'<p class="note">{esc(w.t("meeting.hygiene_caption", n=w.number(agenda.totals.get("hygiene", 0))))}</p>']
    if agenda.hygiene.height == 0:
        return "".join(out) + f'<p class="note">{esc(w.t("meeting.none"))}</p>'
    by_rep = agenda.hygiene_by_rep.head(top)
    headers = [w.t("meeting.col_rep")] + [w.t(f"meeting.check_{c}") for c in CHECKS] + [w.t("meeting.col_issues")]
    rows = [[r["rep"] or ""] + [w.number(r[c]) for c in CHECKS] + [w.number(r["issues"])]
            for r in by_rep.iter_rows(named=True)]
    out.append(_table(headers, rows, set(range(1, len(CHECKS) + 2))))
    headers = [w.t("meeting.col_deal"), w.t("meeting.col_rep"), w.t("meeting.col_check"), w.t("meeting.col_amount")]
    rows = [[r["name"], r["rep"] or "", w.t(f"meeting.check_{r['check']}"), w.money(r["amount"])]
            for r in agenda.hygiene.iter_rows(named=True)]
    return "".join(out) + _table(headers, rows, {3}) + _more(w, agenda.hygiene.height, agenda.totals["hygiene"])


STYLE = f"""
body{{font-family:{FONT};color:#1F2430;background:#fff;margin:0;padding:24px;line-height:1.45}}
main{{max-width:1000px;margin:0 auto}} h1{{font-size:28px;margin:0 0 4px}} h2{{font-size:22px;margin:36px 0 8px;
border-bottom:2px solid #0072B2;padding-bottom:4px}} h3{{font-size:17px;margin:20px 0 6px}}
table{{border-collapse:collapse;width:100%;font-size:14px;margin:6px 0}} th{{background:#F1F3F7}}
th,td{{padding:5px 8px;border-bottom:1px solid #E6E8EE;vertical-align:top}} .note{{color:#5A5F6B;font-size:14px}}
.chart{{margin:10px 0}} .facts{{display:flex;flex-wrap:wrap;gap:12px;margin:8px 0}}
.fact{{border:1px solid #E6E8EE;border-radius:6px;padding:8px 14px;min-width:150px}}
.fact .label{{font-size:13px;color:#5A5F6B}} .fact .value{{font-size:22px;font-weight:bold}}
.badge{{display:inline-block;background:#E69F00;color:#1F2430;border-radius:4px;padding:1px 6px;font-size:13px}}
"""


def render_html(agenda: Agenda, *, lang: str = "en", currency: str | None = None, demo: bool = False,
                generated: date | None = None) -> str:
    """The whole report as one HTML document (a string)."""
    w = Words(lang if lang in LANGS else "en", currency)
    period = (f"{w.day(agenda.period_from)} – {w.day(agenda.period_to)}"
              if agenda.period_from or agenda.period_to else w.t("meeting.period_all"))
    head = (
        f'<!DOCTYPE html><html lang="{esc(w.lang)}"><head><meta charset="utf-8">'
        '<meta http-equiv="Content-Security-Policy" content="default-src \'none\'; style-src \'unsafe-inline\'; '
        'img-src data:">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f'<title>{esc(w.t("meeting.report_title"))} · {esc(period)}</title><style>{STYLE}</style></head>'
    )
    header = (f'<header><h1>{esc(w.t("meeting.report_title"))}</h1>'
              f'<p class="note">{esc(w.t("meeting.subtitle", period=period, as_of=w.day(agenda.as_of)))}'
              + (f' <span class="badge">{esc(w.t("meeting.demo_note"))}</span>' if demo else "") + "</p></header>")
    sections = [_section_changes(agenda, w), _section_leaderboard(agenda, w), _section_forecast(agenda, w),
                _section_stalled(agenda, w), _section_hygiene(agenda, w)]
    body = "".join(f"<section>{s}</section>" for s in sections)
    footer = f'<footer><p class="note">{esc(w.t("meeting.generated", day=w.day(generated or agenda.as_of)))}</p></footer>'
    return f"{head}<body><main>{header}{body}{footer}</main></body></html>"


def write_report(store: Store, path: Path, *, period_from: date | None, period_to: date | None, as_of: date,
                 from_snapshot: date | None = None, to_snapshot: date | None = None, lang: str = "en") -> Path:
    """Compute the agenda over the store and write the HTML report (UTF-8) to `path`."""
    agenda, currency, demo = build_agenda(store, period_from=period_from, period_to=period_to, as_of=as_of,
                                          from_snapshot=from_snapshot, to_snapshot=to_snapshot)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(render_html(agenda, lang=lang, currency=currency, demo=demo, generated=as_of), encoding="utf-8")
    return path.resolve()
