"""Text normalisation before the base TTS.

Chinese (``normalize_zh``): numbers, dates, times, percentages, fractions,
ranges, units, currency and common symbols are written out in Chinese words,
so "2023年3月5日" is read 二零二三年三月五日 and not 两千零二十三年.
``cn2an`` converts the numbers themselves; the patterns around them are ours
(``cn2an.transform`` reads "2023-03-05" as a subtraction and "10:30" as two
numbers, measured).

English (``normalize_en``): espeak reads numbers and dates itself; only the
markup an LLM may emit (``**bold**``, list bullets, code ticks) is removed.
"""

from __future__ import annotations

import re

CJK_RE = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]")

_FULLWIDTH = {chr(0xFF10 + i): str(i) for i in range(10)}
_FULLWIDTH.update({chr(0xFF21 + i): chr(ord("A") + i) for i in range(26)})
_FULLWIDTH.update({chr(0xFF41 + i): chr(ord("a") + i) for i in range(26)})
_FULLWIDTH.update({"％": "%", "＋": "+", "－": "-", "／": "/", "：": ":", "．": ".", "＝": "=", "＄": "$"})
_FULLWIDTH_TABLE = str.maketrans(_FULLWIDTH)

_DIGITS = "零一二三四五六七八九"

#: measure words after which the number 2 is read 两
_LIANG_MEASURES = set("个只位次本件条张把台辆项种样份天周月年岁小斤公杯瓶块元分点")

_UNITS = {
    "km": "公里",
    "kg": "公斤",
    "cm": "厘米",
    "mm": "毫米",
    "m": "米",
    "g": "克",
    "ml": "毫升",
    "mL": "毫升",
    "L": "升",
    "h": "小时",
    "min": "分钟",
    "s": "秒",
    "ms": "毫秒",
    "GB": "G",
    "MB": "兆",
    "KB": "K",
    "Hz": "赫兹",
    "kHz": "千赫兹",
    "kW": "千瓦",
    "W": "瓦",
    "V": "伏",
}
_UNIT_RE = "|".join(sorted((re.escape(u) for u in _UNITS), key=len, reverse=True))

_SYMBOLS = [
    ("℃", "摄氏度"),
    ("℉", "华氏度"),
    ("°C", "摄氏度"),
    ("°", "度"),
    ("‰", "千分之"),  # rewritten before numbers below
    ("×", "乘"),
    ("÷", "除以"),
    ("=", "等于"),
    ("≈", "约等于"),
    ("≠", "不等于"),
    ("≥", "大于等于"),
    ("≤", "小于等于"),
    ("&", "和"),
    ("@", " at "),
    ("+", "加"),
    ("~", "到"),
    ("～", "到"),
    ("→", "到"),
]

_MARKUP_RE = re.compile(r"(\*\*|__|`+|^\s*[#>]+\s*|^\s*[-*•]\s+|^\s*\d+[.)]\s+(?=\D))", re.MULTILINE)


def has_cjk(text: str) -> bool:
    """True if ``text`` contains a Chinese (CJK unified) character."""
    return bool(CJK_RE.search(text))


def digits_zh(digits: str) -> str:
    """Digit by digit: "2023" -> 二零二三."""
    return "".join(_DIGITS[int(d)] for d in digits if d.isdigit())


def integer_zh(digits: str) -> str:
    """An integer as a Chinese number: "1234" -> 一千二百三十四; long or 0-led strings digit by digit."""
    digits = digits.lstrip("+")
    if len(digits) > 1 and digits.startswith("0") or len(digits) > 8:
        return digits_zh(digits)  # phone numbers, codes, IDs
    import cn2an

    return cn2an.an2cn(digits, "low")


def decimal_zh(number: str) -> str:
    """ "12.50" -> 十二点五零."""
    if "." not in number:
        return integer_zh(number)
    whole, frac = number.split(".", 1)
    return integer_zh(whole or "0") + "点" + digits_zh(frac)


def _signed_zh(number: str) -> str:
    if number.startswith("-"):
        return "负" + decimal_zh(number[1:])
    return decimal_zh(number)


def _date(m: re.Match) -> str:
    y, mo, d = m.group("y"), m.group("mo"), m.group("d")
    out = digits_zh(y) + "年" + integer_zh(mo.lstrip("0") or "0") + "月"
    if d:
        out += integer_zh(d.lstrip("0") or "0") + "日"
    return out


def _time(m: re.Match) -> str:
    h, mi, s = m.group(1), m.group(2), m.group(3)
    out = integer_zh(h.lstrip("0") or "0") + "点"
    if mi != "00" or s:
        out += ("零" if mi.startswith("0") and mi != "00" else "") + integer_zh(mi.lstrip("0") or "0") + "分"
    if s:
        out += integer_zh(s.lstrip("0") or "0") + "秒"
    return out


def _number(m: re.Match) -> str:
    num, unit = m.group("num"), m.group("unit") or ""
    nxt = m.string[m.end() : m.end() + 1]
    if num == "2" and not unit and nxt in _LIANG_MEASURES and m.string[max(0, m.start() - 1) : m.start()] != "第":
        words = "两"
    else:
        words = _signed_zh(num)
    return words + _UNITS.get(unit, "")


def normalize_zh(text: str) -> str:
    """Chinese text with numbers and symbols written as words, ready for the Mandarin voice."""
    t = text.translate(_FULLWIDTH_TABLE)
    t = _MARKUP_RE.sub("", t)
    t = t.replace("*", "")
    # thousands separators: 1,234,567 -> 1234567
    t = re.sub(r"(?<=\d),(?=\d{3}(?!\d))", "", t)
    # currency before the number moves after it: ¥100 -> 100元
    t = re.sub(r"[¥￥]\s*(\d+(?:\.\d+)?)", r"\1元", t)
    t = re.sub(r"US\$\s*(\d+(?:\.\d+)?)|\$\s*(\d+(?:\.\d+)?)", lambda m: (m.group(1) or m.group(2)) + "美元", t)
    t = re.sub(r"€\s*(\d+(?:\.\d+)?)", r"\1欧元", t)
    t = re.sub(r"£\s*(\d+(?:\.\d+)?)", r"\1英镑", t)
    # dates: 2023-03-05, 2023/3/5, 2023.3.5, 2023年3月5日, 2023年3月, 2023年
    t = re.sub(
        r"(?P<y>\d{4})\s*(?:[-/.]|年)\s*(?P<mo>\d{1,2})\s*(?:[-/.]|月)(?:\s*(?P<d>\d{1,2})\s*[日号]?)?",
        lambda m: _date(m) if 1 <= int(m.group("mo")) <= 12 else m.group(0),
        t,
    )
    t = re.sub(r"(\d{4})(?=\s*年)", lambda m: digits_zh(m.group(1)), t)
    # times: 10:30, 08:05:09
    t = re.sub(r"(?<![\d:])(\d{1,2}):(\d{2})(?::(\d{2}))?(?![\d:])", _time, t)
    # percentages and per-mille (a range like 10-20% reads both ends as percentages)
    t = re.sub(
        r"(-?\d+(?:\.\d+)?)\s*[-~～到至]\s*(-?\d+(?:\.\d+)?)\s*%",
        lambda m: "百分之" + _signed_zh(m.group(1)) + "到百分之" + _signed_zh(m.group(2)),
        t,
    )
    t = re.sub(r"(-?\d+(?:\.\d+)?)\s*%", lambda m: "百分之" + _signed_zh(m.group(1)), t)
    t = re.sub(r"(-?\d+(?:\.\d+)?)\s*‰", lambda m: "千分之" + _signed_zh(m.group(1)), t)
    # fractions: 3/4 -> 四分之三
    t = re.sub(
        r"(?<![\d/])(\d+)\s*/\s*(\d+)(?![\d/])", lambda m: integer_zh(m.group(2)) + "分之" + integer_zh(m.group(1)), t
    )
    # ranges between numbers: 3-5, 3~5 -> 3到5
    t = re.sub(r"(?<=\d)\s*[-~～—–]\s*(?=\d)", "到", t)
    # symbols (after the number patterns that use them)
    for sym, words in _SYMBOLS:
        t = t.replace(sym, words)
    # numbers (negative when the minus is not between two words), with an optional unit
    t = re.sub(
        r"(?P<num>(?:(?<![A-Za-z0-9.])-)?\d+(?:\.\d+)?)(?:\s*(?P<unit>" + _UNIT_RE + r")(?![A-Za-z]))?", _number, t
    )
    t = t.replace("#", "号").replace("%", "百分比")
    t = re.sub(r"[ \t]{2,}", " ", t)
    return t.strip()


def normalize_en(text: str) -> str:
    """English text for espeak: markup removed, numbers left to espeak."""
    t = text.translate(_FULLWIDTH_TABLE)
    t = _MARKUP_RE.sub("", t)
    t = t.replace("*", "").replace("#", " number ")
    t = re.sub(r"[ \t]{2,}", " ", t)
    return t.strip()


def normalize(text: str, language: str) -> str:
    """``language`` "zh" or "en": the voice that will read ``text``."""
    return normalize_zh(text) if language == "zh" else normalize_en(text)
