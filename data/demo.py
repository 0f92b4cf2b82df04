"""Seeded generator of a believable demo company: reps, accounts, deals, leads, history and snapshots.

`generate(seed, as_of)` returns polars frames whose columns are exactly those of `data/schema.sql`
(without `batch_id`); the store writes them. Everything is vectorised with numpy and deterministic
for `(seed, as_of)`: each part of the company draws from its own seeded stream.

The story the data tells (so every view has something to find):
- five teams (Shanghai, Shenzhen, Beijing, Istanbul, London), each with a manager; the company reports
  in one currency (CNY), so company-level sums and targets never mix currencies;
  two reps left (their open deals were reassigned), one new hire has no closed deal yet, one rep has
  no deals at all; one rep is very busy but wins little, one is quiet but wins a lot;
- a Pareto-shaped customer base (a fifth of the accounts carries most of the revenue);
- deals with seasonality and growth, win rates that differ by team and rep, a bottleneck at
  Needs Analysis -> Proposal in Beijing, stalled deals and open deals whose close date has passed;
- weekly snapshots with slipped and pulled-in close dates, amount changes and deleted deals.
"""
from __future__ import annotations

import unicodedata
from dataclasses import dataclass
from datetime import date, timedelta

import numpy as np
import polars as pl

from data import clock

# ----------------------------------------------------------------------------------------------
# Vocabulary of the demo company
# ----------------------------------------------------------------------------------------------

STAGES: tuple[str, ...] = (
    "Prospecting", "Qualification", "Needs Analysis", "Proposal", "Negotiation", "Closed Won", "Closed Lost",
)
STAGE_PROBABILITY: tuple[float, ...] = (0.1, 0.2, 0.4, 0.6, 0.8, 1.0, 0.0)
N_OPEN = 5
WON = 5
LOST = 6

PRODUCTS: tuple[str, ...] = (
    "Cloud CRM", "Analytics Suite", "Data Platform", "IoT Gateway", "Support Plan", "Professional Services",
)
PRODUCT_WEIGHT = np.array([0.26, 0.20, 0.10, 0.12, 0.17, 0.15])
PRODUCT_PRICE_USD = np.array([12_000.0, 18_000.0, 45_000.0, 26_000.0, 6_000.0, 9_000.0])
USD_TO_CNY = 7.2

SOURCES: tuple[str, ...] = ("Web", "Referral", "Event", "Outbound", "Partner")
SOURCE_WEIGHT_DEALS = np.array([0.32, 0.16, 0.16, 0.20, 0.16])
SOURCE_WEIGHT_LEADS = np.array([0.42, 0.08, 0.20, 0.18, 0.12])
SOURCE_WIN = np.array([1.0, 1.35, 0.95, 0.8, 1.1])

LOST_REASONS: tuple[str, ...] = ("Price", "Competitor", "No budget", "No decision", "Timing", "Product fit")
LOST_WEIGHT_EARLY = np.array([0.10, 0.12, 0.28, 0.20, 0.14, 0.16])
LOST_WEIGHT_LATE = np.array([0.32, 0.30, 0.08, 0.16, 0.10, 0.04])

INDUSTRIES: tuple[str, ...] = (
    "Technology", "Manufacturing", "Logistics", "Healthcare", "Retail",
    "Financial Services", "Energy", "Food & Beverage", "Automotive", "Education",
)
INDUSTRY_WEIGHT = np.array([0.18, 0.20, 0.10, 0.10, 0.12, 0.08, 0.06, 0.08, 0.05, 0.03])
SIZES: tuple[str, ...] = ("SMB", "Mid-Market", "Enterprise")
SIZE_WEIGHT = np.array([0.60, 0.30, 0.10])
SIZE_DEAL_WEIGHT = np.array([1.0, 1.8, 3.0])      # how often an account buys, by size
SIZE_AMOUNT = np.array([0.55, 1.2, 2.8])           # how big its deals are, by size
SIZE_CYCLE = np.array([0.75, 1.0, 1.6])            # how long its deals take, by size

KINDS: tuple[str, ...] = ("call", "email", "meeting", "visit", "task")
OUTCOMES: dict[str, tuple[tuple[str, ...], tuple[float, ...]]] = {
    "call": (("Connected", "Left voicemail", "No answer"), (0.55, 0.25, 0.20)),
    "email": (("Sent", "Replied"), (0.62, 0.38)),
    "meeting": (("Held", "Rescheduled", "No-show"), (0.82, 0.13, 0.05)),
    "visit": (("Completed", "Rescheduled"), (0.90, 0.10)),
    "task": (("Completed", "Open"), (0.85, 0.15)),
}

# Stage progression: probability of moving past each open stage, median days spent in each.
ADVANCE_BASE = np.array([0.80, 0.76, 0.70, 0.80, 0.85])
DURATION_MEDIAN = np.array([6.0, 9.0, 14.0, 12.0, 10.0])
SKIP_PROBABILITY = np.array([0.0, 0.04, 0.04, 0.03, 0.0])
STALL_SHARE = 0.015
# Deals start this many days before the two-year window, so its first months already close revenue.
LEAD_IN_DAYS = 90

EMAIL_DOMAIN = "demo.salescope.example"


@dataclass(frozen=True)
class _Team:
    """One sales team: where it sells, in which currency, with what rhythm and funnel."""

    name: str
    region: str
    currency: str
    names: str                        # name pool: zh, tr or en
    account_share: float
    season: tuple[float, ...]         # Jan..Dec multipliers of deal creation
    growth: float                     # yearly growth of deal creation
    advance: tuple[float, ...]        # per open stage, chance of moving on
    win_mult: float
    needs_analysis_slowdown: float


_SEASON_CN = (1.0, 0.62, 1.1, 1.05, 1.0, 1.1, 0.95, 0.95, 1.05, 0.85, 1.1, 1.2)
_SEASON_TR = (0.95, 1.0, 1.05, 1.0, 0.95, 1.0, 0.85, 0.8, 1.05, 1.05, 1.1, 1.15)
_SEASON_EU = (0.9, 1.0, 1.1, 1.0, 1.0, 1.0, 0.85, 0.68, 1.1, 1.1, 1.15, 0.88)
_ADV = tuple(float(p) for p in ADVANCE_BASE)

TEAMS: tuple[_Team, ...] = (
    _Team("Shanghai", "East China", "CNY", "zh", 0.30, _SEASON_CN, 0.30, _ADV, 1.12, 1.0),
    _Team("Shenzhen", "South China", "CNY", "zh", 0.22, _SEASON_CN, 0.30, _ADV, 0.92, 1.0),
    _Team("Beijing", "North China", "CNY", "zh", 0.18, _SEASON_CN, 0.25, (0.86, 0.84, 0.42, 0.86, 0.90), 1.0, 2.0),
    _Team("Istanbul", "Türkiye", "CNY", "tr", 0.15, _SEASON_TR, 0.45, _ADV, 1.0, 1.0),
    _Team("London", "EMEA", "CNY", "en", 0.15, _SEASON_EU, 0.20, _ADV, 1.2, 1.0),
)

_ZH_NAMES: tuple[tuple[str, str], ...] = (
    ("王伟", "wang.wei"), ("李娜", "li.na"), ("张敏", "zhang.min"), ("刘洋", "liu.yang"), ("陈静", "chen.jing"),
    ("杨帆", "yang.fan"), ("赵磊", "zhao.lei"), ("黄丽", "huang.li"), ("周杰", "zhou.jie"), ("吴芳", "wu.fang"),
    ("徐强", "xu.qiang"), ("孙悦", "sun.yue"), ("马超", "ma.chao"), ("朱琳", "zhu.lin"), ("胡斌", "hu.bin"),
    ("郭婷", "guo.ting"), ("何涛", "he.tao"), ("高洁", "gao.jie"), ("林峰", "lin.feng"), ("罗敏", "luo.min"),
    ("郑浩", "zheng.hao"), ("梁雪", "liang.xue"), ("谢军", "xie.jun"), ("宋佳", "song.jia"), ("唐亮", "tang.liang"),
    ("韩梅", "han.mei"), ("冯刚", "feng.gang"), ("邓颖", "deng.ying"), ("曹阳", "cao.yang"), ("彭辉", "peng.hui"),
)
_ZH_ENGLISH_NAMES: tuple[str, ...] = ("Emily Carter", "David Chen", "Kevin Zhang", "Grace Liu", "Michael Wong")
_TR_NAMES: tuple[str, ...] = (
    "Mehmet Yılmaz", "Ayşe Demir", "Mustafa Kaya", "Fatma Şahin", "Emre Çelik", "Zeynep Aydın",
    "Burak Öztürk", "Elif Arslan", "Can Doğan", "Selin Koç", "Oğuz Kurt", "Deniz Aksoy",
)
_EN_NAMES: tuple[str, ...] = (
    "James Wilson", "Sophie Martin", "Oliver Brown", "Hannah Schmidt", "Lucas Rossi", "Charlotte Evans",
    "Daniel Novak", "Isabel García", "Thomas Müller", "Amelia Hughes", "Pieter de Vries", "Wei Zhang",
)

_ZH_CITIES: dict[str, tuple[str, ...]] = {
    "East China": ("上海", "杭州", "苏州", "南京", "宁波"),
    "South China": ("深圳", "广州", "东莞", "厦门", "佛山"),
    "North China": ("北京", "天津", "青岛", "济南", "大连"),
}
_ZH_PREFIX: tuple[str, ...] = (
    "华信", "中科", "恒瑞", "金鼎", "东方", "天宇", "博远", "鑫达", "瑞祥", "宏图", "永安", "正泰", "海纳", "远航",
    "佳禾", "润华", "盛世", "星辰", "锦程", "同创", "景明", "鼎盛", "万通", "华联", "新元", "凯越", "安泰", "明德",
    "百川", "云帆", "晨光", "嘉禾", "长风", "启航", "银河", "腾达", "汉唐", "泰和", "富春", "青松",
)
_ZH_FIELD: tuple[tuple[str, ...], ...] = (
    ("科技", "软件", "信息技术", "网络科技"), ("精密制造", "机械", "电子"), ("物流", "供应链", "国际货运"),
    ("医药", "医疗器械", "生物科技"), ("商贸", "百货", "零售"), ("金融服务", "投资", "融资租赁"),
    ("能源", "新能源", "电力"), ("食品", "餐饮管理", "饮料"), ("汽车部件", "汽车销售"), ("教育科技", "培训"),
)
_ZH_SUFFIX: tuple[str, ...] = ("有限公司", "股份有限公司", "集团有限公司")
_EN_PREFIX: tuple[str, ...] = (
    "Northwind", "Bluefin", "Summit", "Crescent", "Evergreen", "Ironbridge", "Silverline", "Redwood", "Harbor",
    "Pinnacle", "Brightwater", "Oakridge", "Falcon", "Meridian", "Granite", "Aurora", "Keystone", "Sterling",
    "Horizon", "Cobalt", "Westbrook", "Lakeside", "Vanguard", "Juniper", "Atlas", "Beacon", "Cedar", "Orion",
    "Riverside", "Clearview", "Highland", "Stonegate", "Bayview", "Copperfield", "Fairmont", "Greenfield",
    "Kingsley", "Marlowe", "Trident", "Windmill",
)
_EN_FIELD: tuple[tuple[str, ...], ...] = (
    ("Systems", "Software", "Technologies", "Digital"), ("Manufacturing", "Industries", "Components"),
    ("Logistics", "Freight", "Shipping"), ("Health", "Pharma", "Medical"), ("Retail", "Stores", "Trading"),
    ("Capital", "Financial", "Insurance"), ("Energy", "Power", "Renewables"), ("Foods", "Beverages", "Kitchens"),
    ("Motors", "Auto Parts", "Mobility"), ("Learning", "Academy", "Education"),
)
_EN_SUFFIX: tuple[str, ...] = ("Ltd", "Inc.", "GmbH", "plc", "Group", "B.V.", "")
_TR_PREFIX: tuple[str, ...] = (
    "Anadolu", "Boğaziçi", "Ege", "Marmara", "Karadeniz", "Toros", "Yıldız", "Kuzey", "Akdeniz", "Başkent",
    "Doruk", "Kartal", "Çınar", "Özgür", "Yeni", "Güneş", "Mavi", "Demir", "Ufuk", "Deniz",
)
_TR_FIELD: tuple[tuple[str, ...], ...] = (
    ("Bilişim", "Yazılım", "Teknoloji"), ("Makina", "Sanayi", "Üretim"), ("Lojistik", "Nakliyat", "Taşımacılık"),
    ("Sağlık", "İlaç", "Medikal"), ("Ticaret", "Mağazacılık", "Pazarlama"), ("Finans", "Yatırım", "Faktoring"),
    ("Enerji", "Elektrik", "Yenilenebilir Enerji"), ("Gıda", "İçecek", "Un"), ("Otomotiv", "Yedek Parça"),
    ("Eğitim", "Akademi"),
)
_TR_SUFFIX: tuple[str, ...] = ("A.Ş.", "Ltd. Şti.", "Sanayi ve Ticaret A.Ş.")
_BRANCH_CITIES: dict[str, tuple[str, ...]] = {
    "zh": ("上海", "北京", "深圳", "广州", "杭州", "成都", "武汉", "西安", "重庆", "南京"),
    "tr": ("İstanbul", "Ankara", "İzmir", "Bursa", "Antalya", "Kocaeli", "Konya", "Gaziantep"),
    "en": ("London", "Manchester", "Dublin", "Amsterdam", "Frankfurt", "Paris", "Madrid", "Milan"),
}


@dataclass
class DemoData:
    """The demo company as polars frames with the canonical columns (no batch_id)."""

    reps: pl.DataFrame
    accounts: pl.DataFrame
    deals: pl.DataFrame
    leads: pl.DataFrame
    stage_history: pl.DataFrame
    activities: pl.DataFrame
    targets: pl.DataFrame
    stages: pl.DataFrame
    snapshots: pl.DataFrame
    as_of: date


# ----------------------------------------------------------------------------------------------
# Small helpers: time as float days since 1970-01-01, frames from numpy
# ----------------------------------------------------------------------------------------------

def _day(d: date) -> int:
    """Days since 1970-01-01."""
    return (d - date(1970, 1, 1)).days


def _date_series(name: str, days: np.ndarray) -> pl.Series:
    """A Date series from (possibly NaN) day numbers; NaN becomes null."""
    arr = np.asarray(days, dtype=np.float64)
    out = np.full(arr.shape, np.datetime64("NaT"), dtype="datetime64[D]")
    ok = ~np.isnan(arr)
    out[ok] = np.floor(arr[ok]).astype(np.int64).astype("datetime64[D]")
    return pl.Series(name, out, dtype=pl.Date)


def _ts_series(name: str, x: np.ndarray) -> pl.Series:
    """A Datetime(us) series from float days, rounded to the second."""
    seconds = np.round(np.asarray(x, dtype=np.float64) * 86_400.0).astype(np.int64)
    return pl.Series(name, (seconds * 1_000_000).astype("datetime64[us]"), dtype=pl.Datetime("us"))


def _pick(name: str, values: tuple[str, ...] | list[str], idx: np.ndarray) -> pl.Series:
    """Strings `values[idx]`; negative indices become null."""
    idx = np.asarray(idx, dtype=np.int64)
    index = pl.Series(idx).set(pl.Series(idx < 0), None) if (idx < 0).any() else pl.Series(idx)
    return pl.Series(name, list(values), dtype=pl.String).gather(index).alias(name)


def _ids(prefix: str, n: int, width: int) -> pl.Series:
    """Ids like PREFIX-000123, numbered from 1."""
    return pl.Series([f"{prefix}-{i:0{width}d}" for i in range(1, n + 1)], dtype=pl.String)


def _choice_rows(rng: np.random.Generator, probs: np.ndarray, rows: np.ndarray) -> np.ndarray:
    """For each row index r, draw a column index from the probability table `probs[r]`."""
    cum = np.cumsum(probs, axis=1)
    cum /= cum[:, -1:]
    u = rng.random(rows.shape[0])
    return (u[:, None] > cum[rows]).sum(axis=1)


def _business_time(rng: np.random.Generator, x: np.ndarray) -> np.ndarray:
    """Keep the day of each float-day time and give it a working-hours time of day (08:30-18:30)."""
    return np.floor(x) + (8.5 + 10.0 * rng.beta(2.2, 2.2, x.shape[0])) / 24.0


def _weekday(days: np.ndarray) -> np.ndarray:
    """Weekday of day numbers, Monday = 0 (1970-01-01 was a Thursday)."""
    return (np.floor(days).astype(np.int64) + 3) % 7


def _month_of(days: np.ndarray) -> np.ndarray:
    """Month index 0..11 of day numbers."""
    return np.floor(days).astype("int64").astype("datetime64[D]").astype("datetime64[M]").astype(np.int64) % 12


def _streams(seed: int) -> dict[str, np.random.Generator]:
    """One independent generator per part of the company, so parts do not disturb each other."""
    parts = ("reps", "accounts", "deals", "paths", "leads", "activities", "targets", "snapshots")
    return {p: np.random.default_rng([seed, i]) for i, p in enumerate(parts)}


# ----------------------------------------------------------------------------------------------
# Reps
# ----------------------------------------------------------------------------------------------

@dataclass
class _Reps:
    """Reps as arrays (index = row of the frame) plus the frame itself."""

    frame: pl.DataFrame
    team: np.ndarray
    hired: np.ndarray          # day numbers
    left: np.ndarray           # day numbers, NaN when still here
    volume: np.ndarray         # relative share of deals
    skill: np.ndarray          # win-rate multiplier
    activity: np.ndarray       # activity-level multiplier
    manager: np.ndarray        # row index of each team's manager, per team
    new_hire: int
    no_deals: int
    leavers: tuple[int, ...]


def _ascii_email(name: str) -> str:
    """first.last from a Latin-script name, folded to ASCII."""
    folded = unicodedata.normalize("NFKD", name.replace("ı", "i").replace("İ", "I"))
    ascii_name = folded.encode("ascii", "ignore").decode().lower()
    return ".".join(ascii_name.split())


def _rep_names(rng: np.random.Generator, sizes: list[int]) -> list[tuple[str, str]]:
    """(display name, email local part) for every rep, team by team."""
    zh = [_ZH_NAMES[i] for i in rng.permutation(len(_ZH_NAMES))]
    zh_en = [(n, _ascii_email(n)) for n in (_ZH_ENGLISH_NAMES[i] for i in rng.permutation(len(_ZH_ENGLISH_NAMES)))]
    pools = {
        "tr": [(n, _ascii_email(n)) for n in (_TR_NAMES[i] for i in rng.permutation(len(_TR_NAMES)))],
        "en": [(n, _ascii_email(n)) for n in (_EN_NAMES[i] for i in rng.permutation(len(_EN_NAMES)))],
    }
    out: list[tuple[str, str]] = []
    for team, size in zip(TEAMS, sizes):
        if team.names == "zh":
            members = [zh.pop(0) if zh else (f"员工{len(out) + 1}", f"rep{len(out) + 1}") for _ in range(size - 1)]
            members.insert(int(rng.integers(1, size)), zh_en.pop(0) if zh_en else ("Alex Li", "alex.li"))
        else:
            pool = pools[team.names]
            members = [pool.pop(0) if pool else (f"Rep {len(out) + k + 1}", f"rep{len(out) + k + 1}")
                       for k in range(size)]
        out.extend(members)
    seen: dict[str, int] = {}
    unique: list[tuple[str, str]] = []
    for name, local in out:
        seen[local] = seen.get(local, 0) + 1
        unique.append((name, local if seen[local] == 1 else f"{local}{seen[local]}"))
    return unique


def _monday(day: float) -> float:
    """The Monday on or before a day number."""
    return float(day - _weekday(np.array([day]))[0])


def _build_reps(rng: np.random.Generator, n_reps: int, today: int) -> _Reps:
    """Five teams with a manager each, two leavers, a new hire and a rep without deals."""
    if n_reps < 20:
        raise ValueError("n_reps must be at least 20 (five teams of four)")
    sizes = [n_reps // len(TEAMS) + (1 if t < n_reps % len(TEAMS) else 0) for t in range(len(TEAMS))]
    starts = np.concatenate([[0], np.cumsum(sizes)[:-1]])
    team = np.repeat(np.arange(len(TEAMS)), sizes)
    is_manager = np.zeros(n_reps, dtype=bool)
    is_manager[starts] = True

    hired = today - rng.uniform(380, 2200, n_reps)
    recent = rng.random(n_reps) < 0.2
    hired[recent] = today - rng.uniform(150, 650, recent.sum())
    hired[is_manager] = today - rng.uniform(1500, 3300, len(TEAMS))
    left = np.full(n_reps, np.nan)
    volume = np.exp(rng.normal(0.0, 0.25, n_reps))
    volume[is_manager] = 0.45
    skill = np.exp(rng.normal(0.0, 0.18, n_reps))
    skill[is_manager] = 1.1
    activity = np.exp(rng.normal(0.0, 0.25, n_reps))

    shanghai, shenzhen, _, istanbul, london = (int(s) for s in starts)
    busy_loser, quiet_winner = shanghai + 1, shenzhen + 1
    skill[busy_loser], activity[busy_loser] = 0.5, 2.6
    skill[quiet_winner], activity[quiet_winner] = 1.7, 0.4
    leavers = (shenzhen + 2, istanbul + 1)
    hired[leavers[0]], left[leavers[0]] = today - 1100, today - 150
    hired[leavers[1]], left[leavers[1]] = today - 900, today - 17
    new_hire = istanbul + sizes[3] - 1
    no_deals = london + sizes[4] - 1
    hired[new_hire], hired[no_deals] = today - 45, today - 10
    volume[no_deals] = 0.0
    hired = np.array([_monday(h) for h in hired])
    left = np.where(np.isnan(left), np.nan, np.floor(left))

    names = _rep_names(rng, sizes)
    rep_ids = [f"R{i:03d}" for i in range(1, n_reps + 1)]
    manager_id = [None if is_manager[i] else rep_ids[int(starts[team[i]])] for i in range(n_reps)]
    frame = pl.DataFrame({
        "rep_id": pl.Series(rep_ids, dtype=pl.String),
        "name": pl.Series([n for n, _ in names], dtype=pl.String),
        "email": pl.Series([f"{local}@{EMAIL_DOMAIN}" for _, local in names], dtype=pl.String),
        "team": _pick("team", [t.name for t in TEAMS], team),
        "manager_id": pl.Series(manager_id, dtype=pl.String),
        "region": _pick("region", [t.region for t in TEAMS], team),
        "hired_on": _date_series("hired_on", hired),
        "left_on": _date_series("left_on", left),
    })
    return _Reps(frame, team, hired, left, volume, skill, activity, starts.astype(np.int64),
                 new_hire, no_deals, leavers)


def _active(reps: _Reps, rep: np.ndarray, day: np.ndarray) -> np.ndarray:
    """Whether each rep was employed on each (float) day."""
    left = reps.left[rep]
    return (reps.hired[rep] <= np.floor(day)) & (np.isnan(left) | (np.floor(day) < left))


def _sample_reps(rng: np.random.Generator, reps: _Reps, team: np.ndarray, day: np.ndarray,
                 weight: np.ndarray) -> np.ndarray:
    """A rep of the given team, employed on the given day, drawn in proportion to `weight`."""
    owner = np.full(team.shape[0], -1, dtype=np.int64)
    todo = np.arange(team.shape[0])
    for _ in range(60):
        if todo.size == 0:
            break
        for t in np.unique(team[todo]):
            rows = todo[team[todo] == t]
            members = np.flatnonzero((reps.team == t) & (weight > 0))
            owner[rows] = rng.choice(members, size=rows.size, p=weight[members] / weight[members].sum())
        todo = todo[~_active(reps, owner[todo], day[todo])]
    owner[todo] = reps.manager[team[todo]]
    return owner


# ----------------------------------------------------------------------------------------------
# Accounts
# ----------------------------------------------------------------------------------------------

@dataclass
class _Accounts:
    """Account attributes as arrays (the frame is finished once deals exist)."""

    names: list[str]
    team: np.ndarray
    industry: np.ndarray
    size: np.ndarray
    buy_weight: np.ndarray
    amount_factor: np.ndarray


def _company_name(rng: np.random.Generator, region: str, lang: str, industry: int) -> str:
    """One company name in the language of its market, matching its industry."""
    if lang == "zh":
        city = _ZH_CITIES[region][int(rng.integers(len(_ZH_CITIES[region])))] if rng.random() < 0.5 else ""
        field = _ZH_FIELD[industry][int(rng.integers(len(_ZH_FIELD[industry])))]
        suffix = _ZH_SUFFIX[int(rng.choice(3, p=[0.7, 0.2, 0.1]))]
        return f"{city}{_ZH_PREFIX[int(rng.integers(len(_ZH_PREFIX)))]}{field}{suffix}"
    if lang == "tr":
        field = _TR_FIELD[industry][int(rng.integers(len(_TR_FIELD[industry])))]
        suffix = _TR_SUFFIX[int(rng.integers(len(_TR_SUFFIX)))]
        return f"{_TR_PREFIX[int(rng.integers(len(_TR_PREFIX)))]} {field} {suffix}"
    field = _EN_FIELD[industry][int(rng.integers(len(_EN_FIELD[industry])))]
    suffix = _EN_SUFFIX[int(rng.integers(len(_EN_SUFFIX)))]
    return f"{_EN_PREFIX[int(rng.integers(len(_EN_PREFIX)))]} {field} {suffix}".strip()


def _unique_company_name(rng: np.random.Generator, region: str, lang: str, industry: int, seen: set[str]) -> str:
    """A company name not in `seen`: a fresh draw, else a branch of one, else a numbered one."""
    for _ in range(20):
        name = _company_name(rng, region, lang, industry)
        if name not in seen:
            return name
    branches = _BRANCH_CITIES[lang]
    for _ in range(20):
        city = branches[int(rng.integers(len(branches)))]
        branch = f"{name}（{city}分公司）" if lang == "zh" else f"{name} ({city})"
        if branch not in seen:
            return branch
    number = 2
    while f"{name} {number}" in seen:
        number += 1
    return f"{name} {number}"


def _build_accounts(rng: np.random.Generator, n_accounts: int) -> _Accounts:
    """Accounts spread over the teams' regions, with Pareto-skewed buying power."""
    share = np.array([t.account_share for t in TEAMS])
    team = rng.choice(len(TEAMS), size=n_accounts, p=share / share.sum())
    industry = rng.choice(len(INDUSTRIES), size=n_accounts, p=INDUSTRY_WEIGHT / INDUSTRY_WEIGHT.sum())
    size = rng.choice(len(SIZES), size=n_accounts, p=SIZE_WEIGHT)
    english_share = {"zh": 0.15, "tr": 0.3, "en": 1.0}
    names: list[str] = []
    seen: set[str] = set()
    for i in range(n_accounts):
        t = TEAMS[int(team[i])]
        lang = "en" if rng.random() < english_share[t.names] else t.names
        name = _unique_company_name(rng, t.region, lang, int(industry[i]), seen)
        seen.add(name)
        names.append(name)
    buy_weight = SIZE_DEAL_WEIGHT[size] * np.exp(rng.normal(0.0, 0.8, n_accounts))
    for t in range(len(TEAMS)):
        members = team == t
        buy_weight[members] *= share[t] / buy_weight[members].sum()
    amount_factor = SIZE_AMOUNT[size] * np.exp(rng.normal(0.0, 0.35, n_accounts))
    return _Accounts(names, team, industry, size, buy_weight, amount_factor)


def _accounts_frame(rng: np.random.Generator, acc: _Accounts, reps: _Reps, deal_account: np.ndarray,
                    deal_owner: np.ndarray, deal_created: np.ndarray, today: int) -> pl.DataFrame:
    """Accounts owned by whoever owns most of their deals now (or a teammate), created before their first deal."""
    n = len(acc.names)
    counts = np.zeros((n, len(reps.team)), dtype=np.int64)
    np.add.at(counts, (deal_account, deal_owner), 1)
    has_deals = counts.sum(axis=1) > 0
    owner = counts.argmax(axis=1)
    gone = ~np.isnan(reps.left[owner])
    owner = np.where(gone, reps.manager[reps.team[owner]], owner)
    loose = ~has_deals
    weight = np.where(reps.volume > 0, reps.volume, 0.8)
    owner[loose] = _sample_reps(rng, reps, acc.team[loose], np.full(loose.sum(), float(today)), weight)
    first = np.full(n, np.inf)
    np.minimum.at(first, deal_account, deal_created)
    created = np.where(has_deals, np.floor(first) - rng.integers(0, 400, n), today - rng.integers(30, 1500, n))
    return pl.DataFrame({
        "account_id": _ids("ACC", n, 5),
        "name": pl.Series(acc.names, dtype=pl.String),
        "industry": _pick("industry", INDUSTRIES, acc.industry),
        "region": _pick("region", [t.region for t in TEAMS], acc.team),
        "size": _pick("size", SIZES, acc.size),
        "owner_rep_id": _pick("owner_rep_id", reps.frame["rep_id"].to_list(), owner),
        "created_on": _date_series("created_on", created.astype(np.float64)),
    })


# ----------------------------------------------------------------------------------------------
# Deals and their paths through the pipeline
# ----------------------------------------------------------------------------------------------

def _creation_days(rng: np.random.Generator, team: np.ndarray, first: int, today: int) -> np.ndarray:
    """Creation times (float days) per item, following each team's seasonality, growth and work week."""
    days = np.arange(first, today + 1, dtype=np.float64)
    weekday_factor = np.array([1.0, 1.05, 1.05, 1.0, 0.9, 0.12, 0.08])[_weekday(days)]
    out = np.empty(team.shape[0])
    for t, spec in enumerate(TEAMS):
        rows = np.flatnonzero(team == t)
        p = np.array(spec.season)[_month_of(days)] * np.exp(np.log1p(spec.growth) * (days - today) / 365.0)
        p *= weekday_factor
        out[rows] = rng.choice(days, size=rows.size, p=p / p.sum())
    return out + (8.5 + 10.0 * rng.beta(2.2, 2.2, team.shape[0])) / 24.0


def _simulate_paths(rng: np.random.Generator, start: np.ndarray, advance: np.ndarray,
                    duration_mult: np.ndarray) -> np.ndarray:
    """Entry times (float days, NaN = never) into each of the 7 stages, one row per deal."""
    n = start.shape[0]
    entered = np.full((n, len(STAGES)), np.nan)
    skip = rng.random((n, N_OPEN)) < SKIP_PROBABILITY
    duration = DURATION_MEDIAN * duration_mult * np.exp(rng.normal(0.0, 0.75, (n, N_OPEN)))
    u = rng.random((n, N_OPEN))
    t = start.copy()
    alive = np.ones(n, dtype=bool)
    for k in range(N_OPEN):
        here = alive & ~skip[:, k]
        entered[here, k] = t[here]
        t = np.where(here, t + duration[:, k], t)
        lost_now = here & (u[:, k] >= advance[:, k])
        entered[lost_now, LOST] = t[lost_now]
        alive &= ~lost_now
    entered[alive, WON] = t[alive]
    return _working_hours(rng, entered)


def _working_hours(rng: np.random.Generator, entered: np.ndarray) -> np.ndarray:
    """Stage changes after the first happen in working hours and strictly after the previous one."""
    out = entered.copy()
    prev = out[:, 0].copy()
    gap = 5.0 / (24 * 60)
    for k in range(1, len(STAGES)):
        col = out[:, k]
        has = ~np.isnan(col)
        moved = _business_time(rng, np.where(has, col, 0.0))
        col = np.where(has, np.maximum(moved, prev + gap), np.nan)
        out[:, k] = col
        if k < WON:
            prev = np.where(has, col, prev)
    return out


@dataclass
class _Deals:
    """Deal attributes as arrays, in created order (row i is deal id i + 1)."""

    account: np.ndarray
    team: np.ndarray
    orig_owner: np.ndarray
    owner: np.ndarray
    product: np.ndarray
    source: np.ndarray
    amount: np.ndarray          # NaN when missing
    entered: np.ndarray         # (n, 7) entry times up to as_of, NaN = not (yet) entered
    stage: np.ndarray           # current stage index
    close_date: np.ndarray      # day numbers
    closed_on: np.ndarray       # day numbers, NaN when open
    lost_reason: np.ndarray     # index or -1
    forecast: np.ndarray        # index into forecast categories


FORECAST: tuple[str, ...] = ("Pipeline", "Best Case", "Commit", "Closed", "Omitted")


def _deal_basics(rng: np.random.Generator, acc: _Accounts, reps: _Reps, n: int, first: int,
                 today: int) -> dict[str, np.ndarray]:
    """Who buys what from whom and when: account, team, created time, owner, product, source, amount."""
    p_account = acc.buy_weight / acc.buy_weight.sum()
    account = rng.choice(len(acc.names), size=n, p=p_account)
    team = acc.team[account]
    created = _creation_days(rng, team, first, today)
    order = np.argsort(created, kind="stable")
    account, team, created = account[order], team[order], created[order]
    owner = _sample_reps(rng, reps, team, created, reps.volume)
    product = rng.choice(len(PRODUCTS), size=n, p=PRODUCT_WEIGHT / PRODUCT_WEIGHT.sum())
    source = rng.choice(len(SOURCES), size=n, p=SOURCE_WEIGHT_DEALS / SOURCE_WEIGHT_DEALS.sum())
    fx = np.where(np.array([t.currency for t in TEAMS])[team] == "CNY", USD_TO_CNY, 1.0)
    raw = PRODUCT_PRICE_USD[product] * acc.amount_factor[account] * np.exp(rng.normal(0.0, 0.5, n)) * fx
    step = np.where(fx > 1, 100.0, 10.0)
    amount = np.maximum(np.round(raw / step) * step, step * 10)
    amount[rng.random(n) < 0.01] = np.nan
    return {"account": account, "team": team, "created": created, "owner": owner,
            "product": product, "source": source, "amount": amount}


def _deal_paths(rng: np.random.Generator, basics: dict[str, np.ndarray], acc: _Accounts,
                reps: _Reps) -> np.ndarray:
    """Each deal's stage entry times, with win odds by team, rep and source and the Beijing bottleneck."""
    n = basics["team"].shape[0]
    team, owner = basics["team"], basics["owner"]
    win = np.array([t.win_mult for t in TEAMS])[team] * reps.skill[owner] * SOURCE_WIN[basics["source"]]
    advance = np.array([t.advance for t in TEAMS])[team] * (win ** (1.0 / N_OPEN))[:, None]
    advance = np.minimum(advance, 0.97)
    mult = np.repeat(SIZE_CYCLE[acc.size[basics["account"]]][:, None], N_OPEN, axis=1)
    mult[:, 2] *= np.array([t.needs_analysis_slowdown for t in TEAMS])[team]
    stalled = np.flatnonzero(rng.random(n) < STALL_SHARE)
    mult[stalled, rng.integers(0, N_OPEN, stalled.size)] *= 14.0
    return _simulate_paths(rng, basics["created"], advance, mult)


def _reassign(rng: np.random.Generator, reps: _Reps, orig: np.ndarray, team: np.ndarray,
              closed_on: np.ndarray) -> np.ndarray:
    """Owners now: deals still open when their rep left went to an active teammate."""
    owner = orig.copy()
    weight = reps.volume.copy()
    weight[[reps.new_hire, reps.no_deals, *reps.leavers]] = 0.0
    for rep in reps.leavers:
        left = reps.left[rep]
        moved = np.flatnonzero((orig == rep) & (np.isnan(closed_on) | (closed_on >= left)))
        owner[moved] = _sample_reps(rng, reps, team[moved], np.full(moved.size, left), weight)
    return owner


def _build_deals(rng: np.random.Generator, paths_rng: np.random.Generator, acc: _Accounts, reps: _Reps,
                 n: int, first: int, today: int) -> _Deals:
    """All deals as of `today`: status from the simulated paths, dates, reasons, forecast categories."""
    basics = _deal_basics(rng, acc, reps, n, first, today)
    full = _deal_paths(paths_rng, basics, acc, reps)
    entered = np.where(full < today + 1.0, full, np.nan)
    entered[basics["owner"] == reps.new_hire, WON:] = np.nan       # the new hire has closed nothing yet
    stage = np.where(~np.isnan(entered), np.arange(len(STAGES)), -1).max(axis=1)
    is_open = stage < WON
    closed_on = np.floor(np.where(is_open, np.nan, entered[np.arange(n), stage]))
    stage_since = entered[np.arange(n), np.maximum(stage, 0)]
    stale = is_open & (stage_since < today - 75)
    close_date = _close_dates(rng, full, closed_on, stage_since, stale, today)
    owner = _reassign(rng, reps, basics["owner"], basics["team"], closed_on)
    return _Deals(basics["account"], basics["team"], basics["owner"], owner, basics["product"],
                  basics["source"], basics["amount"], entered, stage, close_date, closed_on,
                  _lost_reasons(rng, entered, stage), _forecast(rng, stage, stale))


def _close_dates(rng: np.random.Generator, full: np.ndarray, closed_on: np.ndarray, stage_since: np.ndarray,
                 stale: np.ndarray, today: int) -> np.ndarray:
    """Actual close for closed deals; for open ones the expected close, near the simulated one.

    Stalled deals keep the date set when they entered their stage (now past), and a few others
    were simply never updated: both are open deals with a close date in the past.
    """
    n = closed_on.shape[0]
    is_open = np.isnan(closed_on)
    simulated = np.floor(np.fmax(full[:, WON], full[:, LOST])) + np.round(rng.normal(0.0, 6.0, n))
    expected = np.maximum(simulated, today + 1)
    expected = np.where(expected > today + 400, today + rng.integers(7, 75, n), expected)
    close_date = np.where(is_open, expected, closed_on)
    close_date[stale] = np.floor(stage_since[stale]) + rng.integers(20, 60, int(stale.sum()))
    forgotten = is_open & (rng.random(n) < 0.012)
    close_date[forgotten] = today - rng.integers(1, 21, int(forgotten.sum()))
    return close_date


def _lost_reasons(rng: np.random.Generator, entered: np.ndarray, stage: np.ndarray) -> np.ndarray:
    """A reason index for lost deals (budget and fit early, price and competitor late); -1 otherwise."""
    last_open = np.where(~np.isnan(entered[:, :N_OPEN]), np.arange(N_OPEN), -1).max(axis=1)
    table = np.vstack([LOST_WEIGHT_EARLY, LOST_WEIGHT_LATE])
    reason = _choice_rows(rng, table, (last_open >= 3).astype(np.int64))
    return np.where((stage == LOST) & (rng.random(stage.shape[0]) > 0.02), reason, -1)


def _forecast(rng: np.random.Generator, stage: np.ndarray, stale: np.ndarray) -> np.ndarray:
    """Forecast category index by stage; stalled and a few other open deals are Omitted."""
    n = stage.shape[0]
    forecast = np.select(
        [stage == WON, stage == LOST, stage == 4, stage == 3],
        [3, 4, np.where(rng.random(n) < 0.7, 2, 1), np.where(rng.random(n) < 0.75, 1, 0)],
        default=0,
    )
    return np.where((stage < WON) & (stale | (rng.random(n) < 0.03)), 4, forecast)


def _deals_frame(d: _Deals, acc: _Accounts, reps: _Reps) -> pl.DataFrame:
    """The deals table."""
    n = d.stage.shape[0]
    status = np.where(d.stage == WON, 1, np.where(d.stage == LOST, 2, 0))
    account_names = pl.Series(acc.names, dtype=pl.String).gather(d.account)
    product = _pick("product", PRODUCTS, d.product)
    return pl.DataFrame({
        "deal_id": _ids("D", n, 6),
        "account_id": _ids("ACC", len(acc.names), 5).gather(d.account).alias("account_id"),
        "owner_rep_id": _pick("owner_rep_id", reps.frame["rep_id"].to_list(), d.owner),
        "name": (account_names + " - " + product).alias("name"),
        "product": product,
        "amount": pl.Series("amount", d.amount, dtype=pl.Float64, nan_to_null=True),
        "currency": _pick("currency", [t.currency for t in TEAMS], d.team),
        "stage": _pick("stage", STAGES, d.stage),
        "status": _pick("status", ("open", "won", "lost"), status),
        "created_on": _date_series("created_on", d.entered[:, 0]),
        "close_date": _date_series("close_date", d.close_date),
        "closed_on": _date_series("closed_on", d.closed_on),
        "lost_reason": _pick("lost_reason", LOST_REASONS, d.lost_reason),
        "probability": pl.Series("probability", np.array(STAGE_PROBABILITY)[d.stage], dtype=pl.Float64),
        "forecast_category": _pick("forecast_category", FORECAST, d.forecast),
        "source": _pick("source", SOURCES, d.source),
    })


def _stage_history_frame(d: _Deals, deal_ids: pl.Series) -> pl.DataFrame:
    """Every stage each deal entered, in time order."""
    rows, cols = np.nonzero(~np.isnan(d.entered))
    x = d.entered[rows, cols]
    order = np.lexsort((cols, rows, x))
    rows, cols, x = rows[order], cols[order], x[order]
    return pl.DataFrame({
        "deal_id": deal_ids.gather(rows).alias("deal_id"),
        "stage": _pick("stage", STAGES, cols),
        "entered_at": _ts_series("entered_at", x),
        "inferred": pl.Series("inferred", np.zeros(rows.size, dtype=bool), dtype=pl.Boolean),
    })


def _stages_frame() -> pl.DataFrame:
    """The configured pipeline."""
    n = len(STAGES)
    return pl.DataFrame({
        "name": pl.Series(STAGES, dtype=pl.String),
        "position": pl.Series(range(1, n + 1), dtype=pl.Int32),
        "probability": pl.Series(STAGE_PROBABILITY, dtype=pl.Float64),
        "is_won": pl.Series([i == WON for i in range(n)], dtype=pl.Boolean),
        "is_lost": pl.Series([i == LOST for i in range(n)], dtype=pl.Boolean),
        "source": pl.Series(["configured"] * n, dtype=pl.String),
    })


# ----------------------------------------------------------------------------------------------
# Leads
# ----------------------------------------------------------------------------------------------

def _leads_frame(rng: np.random.Generator, d: _Deals, reps: _Reps, deal_ids: pl.Series, n_leads: int,
                 first: int, today: int) -> pl.DataFrame:
    """Leads: most deals came from a converted lead; the rest are new, being worked or disqualified."""
    n_deals = d.stage.shape[0]
    converted = np.flatnonzero(rng.random(n_deals) < 0.7)[:n_leads]
    deal_created = np.floor(d.entered[converted, 0])
    lag = np.minimum(np.round(np.exp(rng.normal(np.log(9.0), 0.6, converted.size))), 60.0)
    conv_created = np.maximum(deal_created - lag, reps.hired[d.orig_owner[converted]])

    n_other = n_leads - converted.size
    share = np.array([t.account_share for t in TEAMS])
    team = rng.choice(len(TEAMS), size=n_other, p=share / share.sum())
    created = np.floor(_creation_days(rng, team, first, today))
    weight = np.where(reps.volume > 0, reps.volume, 0.8)
    owner = _sample_reps(rng, reps, team, created, weight)
    source = rng.choice(len(SOURCES), size=n_other, p=SOURCE_WEIGHT_LEADS / SOURCE_WEIGHT_LEADS.sum())
    age = today - created
    status_p = np.array([[0.60, 0.40, 0.0], [0.05, 0.50, 0.45], [0.03, 0.12, 0.85]])
    bucket = np.where(age < 14, 0, np.where(age < 60, 1, 2))
    status = _choice_rows(rng, status_p, bucket)
    status = np.where(status == 2, 3, status)           # new, working, (converted), disqualified

    all_created = np.concatenate([conv_created, created])
    order = np.argsort(all_created, kind="stable")
    frame = pl.DataFrame({
        "created_on": _date_series("created_on", all_created),
        "source": _pick("source", SOURCES, np.concatenate([d.source[converted], source])),
        "owner_rep_id": _pick("owner_rep_id", reps.frame["rep_id"].to_list(),
                              np.concatenate([d.orig_owner[converted], owner])),
        "status": _pick("status", ("new", "working", "converted", "disqualified"),
                        np.concatenate([np.full(converted.size, 2), status])),
        "converted_on": _date_series("converted_on", np.concatenate([deal_created, np.full(n_other, np.nan)])),
        "deal_id": deal_ids.gather(pl.Series(np.concatenate([converted, np.full(n_other, -1)]))
                                   .set(pl.Series(np.arange(n_leads) >= converted.size), None)).alias("deal_id"),
    })[order]
    return frame.with_columns(lead_id=_ids("L", frame.height, 6)).select(
        "lead_id", "created_on", "source", "owner_rep_id", "status", "converted_on", "deal_id")


# ----------------------------------------------------------------------------------------------
# Activities
# ----------------------------------------------------------------------------------------------

def _deal_activity_times(rng: np.random.Generator, d: _Deals, deal: np.ndarray, today: int) -> np.ndarray:
    """Times within each deal's life, half of them bunched around its stage changes."""
    start = d.entered[deal, 0]
    end = np.where(np.isnan(d.closed_on[deal]), today + 0.99, np.nanmax(d.entered[deal], axis=1))
    m = deal.shape[0]
    valid = ~np.isnan(d.entered[deal])
    col = np.where(valid, rng.random((m, len(STAGES))), -1.0).argmax(axis=1)
    anchor = d.entered[deal, col] + rng.normal(0.0, 1.5, m)
    x = np.where(rng.random(m) < 0.55, anchor, start + rng.random(m) * (end - start))
    x = _business_time(rng, x)
    wd = _weekday(x)
    shift = (wd >= 5) & (rng.random(m) < 0.85)
    x = np.where(shift, x - (wd - 4), x)
    return np.clip(x, start, end)


def _activities_frame(rng: np.random.Generator, d: _Deals, acc: _Accounts, reps: _Reps,
                      deal_ids: pl.Series, n: int, first: int, today: int) -> pl.DataFrame:
    """Calls, emails, meetings, visits and tasks, mostly on deals, some on accounts only."""
    n_on_deals = int(round(n * 0.85))
    life = np.where(np.isnan(d.closed_on), today + 1.0, np.nanmax(d.entered, axis=1)) - d.entered[:, 0]
    reached = (~np.isnan(d.entered)).sum(axis=1)
    weight = (life + 2.0) ** 0.7 * reps.activity[d.orig_owner] * (1.0 + 0.3 * reached)
    deal = np.repeat(np.arange(d.stage.shape[0]), rng.multinomial(n_on_deals, weight / weight.sum()))
    x_deal = _deal_activity_times(rng, d, deal, today)
    rep_deal = d.orig_owner[deal].copy()
    for leaver in reps.leavers:
        after = (rep_deal == leaver) & (np.floor(x_deal) >= reps.left[leaver])
        rep_deal[after] = d.owner[deal[after]]

    n_other = n - n_on_deals
    p_acc = np.sqrt(acc.buy_weight)
    account_only = rng.choice(len(acc.names), size=n_other, p=p_acc / p_acc.sum())
    x_other = _creation_days(rng, acc.team[account_only], first, today)
    rep_other = _sample_reps(rng, reps, acc.team[account_only], x_other, reps.activity)

    x = np.concatenate([x_deal, x_other])
    rep = np.concatenate([rep_deal, rep_other])
    account = np.concatenate([d.account[deal], account_only])
    deal_idx = np.concatenate([deal, np.full(n_other, -1)])
    order = np.argsort(x, kind="stable")
    x, rep, account, deal_idx = x[order], rep[order], account[order], deal_idx[order]

    china = (reps.team[rep] < 3).astype(np.int64)
    kind_p = np.array([[0.30, 0.38, 0.14, 0.05, 0.13], [0.30, 0.25, 0.15, 0.15, 0.15]])
    kind = _choice_rows(rng, kind_p, china)
    duration, outcome = _durations_outcomes(rng, kind)
    return pl.DataFrame({
        "activity_id": _ids("ACT", n, 7),
        "rep_id": _pick("rep_id", reps.frame["rep_id"].to_list(), rep),
        "account_id": _ids("ACC", len(acc.names), 5).gather(account).alias("account_id"),
        "deal_id": deal_ids.gather(pl.Series(np.maximum(deal_idx, 0)).set(pl.Series(deal_idx < 0), None))
        .alias("deal_id"),
        "kind": _pick("kind", KINDS, kind),
        "occurred_at": _ts_series("occurred_at", x),
        "duration_min": pl.Series("duration_min", duration, dtype=pl.Float64, nan_to_null=True),
        "outcome": outcome,
    })


def _durations_outcomes(rng: np.random.Generator, kind: np.ndarray) -> tuple[np.ndarray, pl.Series]:
    """Minutes for calls, meetings and visits; an outcome fitting each kind."""
    m = kind.shape[0]
    median = np.array([7.0, np.nan, 40.0, 90.0, np.nan])[kind]
    sigma = np.array([0.7, 0.0, 0.4, 0.45, 0.0])[kind]
    step = np.array([1.0, 1.0, 5.0, 5.0, 1.0])[kind]
    duration = np.maximum(np.round(median * np.exp(rng.normal(0.0, 1.0, m) * sigma) / step) * step, 1.0)
    labels: list[str] = []
    offsets: list[int] = []
    for name in KINDS:
        offsets.append(len(labels))
        labels.extend(OUTCOMES[name][0])
    width = max(len(p) for _, p in OUTCOMES.values())
    table = np.zeros((len(KINDS), width))
    for k, name in enumerate(KINDS):
        probs = OUTCOMES[name][1]
        table[k, : len(probs)] = probs
    outcome = np.array(offsets)[kind] + _choice_rows(rng, table, kind)
    return duration, _pick("outcome", labels, outcome)


# ----------------------------------------------------------------------------------------------
# Targets
# ----------------------------------------------------------------------------------------------

def _months(first: int, today: int) -> tuple[np.ndarray, np.ndarray]:
    """Month starts and ends (day numbers) from the month of `first` to the end of today's quarter."""
    m0 = np.datetime64(first, "D").astype("datetime64[M]")
    now = np.datetime64(today, "D").astype("datetime64[M]")
    quarter_end = now + (2 - now.astype(np.int64) % 12 % 3)
    months = np.arange(m0, quarter_end + 1)
    starts = months.astype("datetime64[D]").astype(np.int64)
    ends = (months + 1).astype("datetime64[D]").astype(np.int64) - 1
    return starts, ends


def _run_rates(d: _Deals, reps: _Reps, starts: np.ndarray, ends: np.ndarray, shape: np.ndarray,
               today: int) -> np.ndarray:
    """Each rep's won revenue per unit of `shape` over the finished months (team median if none)."""
    won = (d.stage == WON) & ~np.isnan(d.amount) & (d.closed_on >= starts[0])
    month_of_close = np.searchsorted(starts, d.closed_on[won], side="right") - 1
    revenue = np.zeros(shape.shape)
    np.add.at(revenue, (d.owner[won], month_of_close), d.amount[won])
    finished = ends <= today
    basis = shape[:, finished].sum(axis=1)
    rate = np.where(basis > 0, revenue[:, finished].sum(axis=1) / np.where(basis > 0, basis, 1.0), 0.0)
    for t in range(len(TEAMS)):
        members = reps.team == t
        rate[members & (rate <= 0)] = np.median(rate[members & (rate > 0)])
    return rate


def _plan_factors(rng: np.random.Generator, reps: _Reps) -> np.ndarray:
    """How much above (or below) their run rate each rep was asked to sell: three over, three under plan."""
    n = reps.team.shape[0]
    plan = rng.uniform(0.98, 1.12, n)
    ordinary = np.setdiff1d(np.arange(n), [reps.new_hire, reps.no_deals, *reps.leavers, *reps.manager])
    picks = rng.permutation(ordinary)
    plan[picks[:3]] = 0.78
    plan[picks[3:6]] = 1.32
    plan[int(np.argmin(reps.skill))] = 1.3       # the busy rep who wins little was expected to win more
    return plan


def _targets_frame(rng: np.random.Generator, d: _Deals, reps: _Reps, first: int, today: int) -> pl.DataFrame:
    """Monthly revenue targets per rep that follow their own run rate, summed to teams and company."""
    starts, ends = _months(first, today)
    lagged = np.floor(starts - 60.0)             # revenue follows deal creation by about two months
    intensity = np.array([[t.season[mo] * np.exp(np.log1p(t.growth) * (s - today) / 365.0)
                           for mo, s in zip(_month_of(lagged), lagged)] for t in TEAMS])[reps.team]
    active = (ends[None, :] >= reps.hired[:, None]) & (
        np.isnan(reps.left)[:, None] | (starts[None, :] < reps.left[:, None]))
    tenure = (starts[None, :] - reps.hired[:, None]) / 30.4
    shape = intensity * np.clip((tenure + 1.0) / 4.0, 0.25, 1.0) * active
    rate = _run_rates(d, reps, starts, ends, shape, today) * _plan_factors(rng, reps)
    value = np.round(rate[:, None] * shape / 1000.0) * 1000.0
    r_idx, m_idx = np.nonzero(active & (value > 0))
    rep_rows = pl.DataFrame({
        "scope": pl.Series(["rep"] * r_idx.size, dtype=pl.String),
        "scope_id": _pick("scope_id", reps.frame["rep_id"].to_list(), r_idx),
        "team": _pick("team", [t.name for t in TEAMS], reps.team[r_idx]),
        "period_start": _date_series("period_start", starts[m_idx].astype(np.float64)),
        "period_end": _date_series("period_end", ends[m_idx].astype(np.float64)),
        "measure": pl.Series(["revenue"] * r_idx.size, dtype=pl.String),
        "value": pl.Series(value[r_idx, m_idx], dtype=pl.Float64),
    })
    keys = ["period_start", "period_end", "measure"]
    team_rows = (rep_rows.group_by(["team", *keys]).agg(pl.col("value").sum())
                 .with_columns(scope=pl.lit("team"), scope_id=pl.col("team")))
    company_rows = (rep_rows.group_by(keys).agg(pl.col("value").sum())
                    .with_columns(scope=pl.lit("company"), scope_id=pl.lit("")))
    cols = ["scope", "scope_id", "period_start", "period_end", "measure", "value"]
    order = {"company": 0, "team": 1, "rep": 2}
    out = pl.concat([rep_rows.select(cols), team_rows.select(cols), company_rows.select(cols)])
    return out.sort(pl.col("scope").replace_strict(order, return_dtype=pl.Int8), "scope_id", "period_start")


# ----------------------------------------------------------------------------------------------
# Snapshots
# ----------------------------------------------------------------------------------------------

def _close_date_moves(rng: np.random.Generator, exists: np.ndarray, open_now: np.ndarray) -> np.ndarray:
    """Close-date changes (days) at each snapshot boundary b (between b-1 and b) for currently open deals.

    About 10% of open deals slip (some three times or more), about 3% are pulled in.
    """
    n, n_snap = exists.shape
    moves = np.zeros((n, n_snap))
    first = np.where(exists.any(axis=1), exists.argmax(axis=1), n_snap)
    room = np.maximum(n_snap - 1 - first, 0)
    boundary = np.arange(n_snap)[None, :]
    slipping = np.flatnonzero(open_now & (room >= 1) & (rng.random(n) < 0.12))
    pushes = rng.choice([1, 2, 3, 4], size=slipping.size, p=[0.45, 0.25, 0.18, 0.12])
    pushes = np.minimum(pushes, room[slipping])
    score = np.where(boundary > first[slipping, None], rng.random((slipping.size, n_snap)), -1.0)
    rank = np.argsort(np.argsort(-score, axis=1), axis=1)
    chosen = (rank < pushes[:, None]) & (score >= 0)
    moves[slipping] = chosen * rng.integers(5, 32, (slipping.size, n_snap))
    pulling = np.flatnonzero(open_now & (room >= 1) & (moves.sum(axis=1) == 0) & (rng.random(n) < 0.03))
    at = first[pulling] + 1 + (rng.random(pulling.size) * room[pulling]).astype(np.int64)
    moves[pulling, at] = -rng.integers(7, 31, pulling.size)
    return moves


def _snapshots_frame(rng: np.random.Generator, d: _Deals, reps: _Reps, deal_ids: pl.Series,
                     n_snap: int, today: int) -> pl.DataFrame:
    """Weekly states of the deals rewound from the present, plus a few deals later deleted in the CRM."""
    n = d.stage.shape[0]
    snap_days = today - 7 * np.arange(n_snap)[::-1]
    cut = snap_days[None, :, None] + 1.0
    entered = np.nan_to_num(d.entered, nan=np.inf)[:, None, :]
    stage_at = np.where(entered < cut, np.arange(len(STAGES)), -1).max(axis=2)    # (n, n_snap)
    exists = stage_at >= 0
    open_at = exists & (stage_at < WON)
    open_now = d.stage < WON

    moves = _close_date_moves(rng, exists, open_now)
    later = np.cumsum(moves[:, ::-1], axis=1)[:, ::-1]
    shift_after = np.concatenate([later[:, 1:], np.zeros((n, 1))], axis=1)
    planned = d.closed_on + rng.choice([0, 1, -1], size=n, p=[0.65, 0.2, 0.15]) * rng.integers(3, 30, n)
    close = np.where(open_now[:, None], d.close_date[:, None] - shift_after, planned[:, None])
    close = np.where(open_at, close, d.closed_on[:, None])

    amount = np.repeat(d.amount[:, None], n_snap, axis=1)
    if n_snap > 1:
        b = rng.integers(1, n_snap, n)
        changed = np.flatnonzero(open_at[np.arange(n), b - 1] & (rng.random(n) < 0.07) & ~np.isnan(d.amount))
        factor = np.where(rng.random(changed.size) < 0.5, rng.uniform(0.6, 0.9, changed.size),
                          rng.uniform(1.1, 1.5, changed.size))
        old = np.round(d.amount[changed] * factor / 10.0) * 10.0
        before = np.arange(n_snap)[None, :] < b[changed, None]
        amount[changed] = np.where(before, old[:, None], amount[changed])

    owner = np.repeat(d.owner[:, None], n_snap, axis=1)
    for leaver in reps.leavers:
        mine = d.orig_owner == leaver
        owner[mine] = np.where(snap_days[None, :] < reps.left[leaver], leaver, owner[mine])

    rows, cols = np.nonzero(exists.T)
    deal, snap = cols, rows
    real = pl.DataFrame({
        "snapshot_date": _date_series("snapshot_date", snap_days[snap].astype(np.float64)),
        "deal_id": deal_ids.gather(deal).alias("deal_id"),
        "stage": _pick("stage", STAGES, stage_at[deal, snap]),
        "status": _pick("status", ("open", "won", "lost"),
                        np.clip(stage_at[deal, snap] - (N_OPEN - 1), 0, 2)),
        "amount": pl.Series("amount", amount[deal, snap], dtype=pl.Float64, nan_to_null=True),
        "close_date": _date_series("close_date", close[deal, snap]),
        "owner_rep_id": _pick("owner_rep_id", reps.frame["rep_id"].to_list(), owner[deal, snap]),
    })
    return pl.concat([real, _deleted_deals(rng, reps, snap_days, n)]).sort("snapshot_date", "deal_id")


def _deleted_deals(rng: np.random.Generator, reps: _Reps, snap_days: np.ndarray, n_real: int) -> pl.DataFrame:
    """A few open deals that appear in early snapshots and were then deleted in the CRM."""
    n_snap = snap_days.shape[0]
    k = max(3, n_real // 2000) if n_snap >= 2 else 0
    born = rng.integers(0, max(n_snap - 1, 1), k)
    gone = born + 1 + (rng.random(k) * (n_snap - 1 - born)).astype(np.int64)
    team = rng.integers(0, len(TEAMS), k)
    weight = reps.volume.copy()
    weight[[reps.new_hire, reps.no_deals, *reps.leavers]] = 0.0
    owner = _sample_reps(rng, reps, team, np.full(k, float(snap_days[-1])), weight)
    stage = rng.integers(0, 3, k)
    fx = np.full(team.shape, USD_TO_CNY)
    amount = np.round(rng.lognormal(np.log(12_000.0), 0.6, k) * fx / 10.0) * 10.0
    close = snap_days[born] + rng.integers(20, 90, k)
    deal, snap = [], []
    for i in range(k):
        for j in range(int(born[i]), int(gone[i])):
            deal.append(i)
            snap.append(j)
    deal_a, snap_a = np.array(deal, dtype=np.int64), np.array(snap, dtype=np.int64)
    ids = [f"D-{n_real + i + 1:06d}" for i in range(k)]
    return pl.DataFrame({
        "snapshot_date": _date_series("snapshot_date", snap_days[snap_a].astype(np.float64)),
        "deal_id": pl.Series("deal_id", ids, dtype=pl.String).gather(deal_a),
        "stage": _pick("stage", STAGES, stage[deal_a]),
        "status": pl.Series("status", ["open"] * deal_a.size, dtype=pl.String),
        "amount": pl.Series("amount", amount[deal_a], dtype=pl.Float64),
        "close_date": _date_series("close_date", close[deal_a].astype(np.float64)),
        "owner_rep_id": _pick("owner_rep_id", reps.frame["rep_id"].to_list(), owner[deal_a]),
    })


# ----------------------------------------------------------------------------------------------
# Entry point
# ----------------------------------------------------------------------------------------------

def generate(seed: int = 7, as_of: date | None = None, n_deals: int = 20_000, n_accounts: int = 2_000,
             n_reps: int = 40, n_activities: int = 200_000, n_snapshots: int = 8) -> DemoData:
    """A whole demo company as of `as_of` (default today), identical for the same (seed, as_of).

    Deals are created over the two years ending at `as_of` (plus a 90-day lead-in, so the first
    months of targets meet real revenue); leads number three per deal; monthly targets run from the
    first month of the two years to the end of the current quarter; snapshots are weekly at as_of,
    as_of - 7 days, ...
    """
    if n_snapshots < 1 or min(n_deals, n_accounts, n_activities) < 1:
        raise ValueError("n_deals, n_accounts, n_activities and n_snapshots must be positive")
    as_of = as_of or clock.today()
    today = _day(as_of)
    window = _day(as_of - timedelta(days=729))
    first = window - LEAD_IN_DAYS
    rng = _streams(seed)
    reps = _build_reps(rng["reps"], n_reps, today)
    acc = _build_accounts(rng["accounts"], n_accounts)
    deals = _build_deals(rng["deals"], rng["paths"], acc, reps, n_deals, first, today)
    deals_frame = _deals_frame(deals, acc, reps)
    deal_ids = deals_frame["deal_id"]
    accounts = _accounts_frame(rng["accounts"], acc, reps, deals.account, deals.owner, deals.entered[:, 0], today)
    return DemoData(
        reps=reps.frame,
        accounts=accounts,
        deals=deals_frame,
        leads=_leads_frame(rng["leads"], deals, reps, deal_ids, 3 * n_deals, first, today),
        stage_history=_stage_history_frame(deals, deal_ids),
        activities=_activities_frame(rng["activities"], deals, acc, reps, deal_ids, n_activities, first, today),
        targets=_targets_frame(rng["targets"], deals, reps, window, today),
        stages=_stages_frame(),
        snapshots=_snapshots_frame(rng["snapshots"], deals, reps, deal_ids, n_snapshots, today),
        as_of=as_of,
    )
