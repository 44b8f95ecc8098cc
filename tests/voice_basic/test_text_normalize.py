import re

import pytest

from pipelines.voice.text_normalize import has_cjk, normalize_en, normalize_zh


@pytest.mark.parametrize(
    "text, expected",
    [
        ("2023年3月", "二零二三年三月"),
        ("2023年3月5日", "二零二三年三月五日"),
        ("今天是2023-03-05。", "今天是二零二三年三月五日。"),
        ("增长了12.5%", "增长了百分之十二点五"),
        ("10-20%", "百分之十到百分之二十"),
        ("价格是3/4", "价格是四分之三"),
        ("电话13800138000", "电话一三八零零一三八零零零"),
        ("温度-3.5℃", "温度负三点五摄氏度"),
        ("时间10:30", "时间十点三十分"),
        ("08:05:09", "八点零五分九秒"),
        ("第3名", "第三名"),
        ("共1,234人", "共一千二百三十四人"),
        ("跑了100km", "跑了一百公里"),
        ("有2个人，第2个", "有两个人，第二个"),
        ("¥100", "一百元"),
        ("3-5天", "三到五天"),
        ("**重点** 1+1=2", "重点 一加一等于二"),
        ("用了3年", "用了三年"),
    ],
)
def test_chinese_numbers_dates_and_symbols_become_words(text, expected):
    assert normalize_zh(text) == expected


@pytest.mark.parametrize(
    "text",
    [
        "2023年3月",
        "我们在2024年12月31日23:59完成了99.9%的测试，共1,024项，耗时3-5天。",
        "价格从¥12.50涨到$3，增幅1/3。",
        "ｉＰｈｏｎｅ１５卖了５０００元",
    ],
)
def test_no_digits_or_percent_left_in_chinese(text):
    out = normalize_zh(text)
    assert not re.search(r"[0-9%％０-９]", out), out
    assert has_cjk(out)


def test_english_keeps_numbers_for_espeak_and_drops_markup():
    assert normalize_en("**Note:** it costs 12 dollars") == "Note: it costs 12 dollars"
    assert normalize_en("- first item") == "first item"


def test_has_cjk():
    assert has_cjk("Hello 你好")
    assert not has_cjk("Hello, world! 123。")
