from pipelines.splitter import SentenceSplitter


def split_stream(text, pieces=2, min_chars=6):
    s = SentenceSplitter(min_chars=min_chars)
    out = []
    for i in range(0, len(text), pieces):
        out += s.feed(text[i : i + pieces])
    return out + s.flush()


def test_chinese_sentences():
    assert split_stream("你好，我是小林。今天天气很好！你想聊什么？") == [
        "你好，我是小林。",
        "今天天气很好！",
        "你想聊什么？",
    ]


def test_first_chunk_may_end_at_a_comma_but_is_never_tiny():
    out = split_stream("好的，那我们开始吧，首先看第一部分。然后是第二部分，最后总结。")
    assert out[0] == "好的，那我们开始吧，"
    assert all(len(s) >= 6 for s in out)
    assert "".join(out) == "好的，那我们开始吧，首先看第一部分。然后是第二部分，最后总结。"


def test_single_character_piece_is_not_a_sentence():
    out = split_stream("嗯。好。我明白你的意思了。")
    assert out == ["嗯。好。我明白你的意思了。"]


def test_english_with_decimals_and_abbreviated_numbers():
    out = split_stream("Pi is about 3.14 today. I have 1,000 ideas! Do you?", pieces=1)
    assert out == ["Pi is about 3.14 today.", "I have 1,000 ideas!", "Do you?"]


def test_mixed_language_and_quotes():
    out = split_stream("我说：“Hello world!” 然后他笑了。OK, fine.")
    assert out[0].startswith("我说：")
    assert "“Hello world!”" in "".join(out)
    assert out[-1].endswith("fine.")


def test_no_punctuation_is_cut_at_max_length_on_spaces():
    words = " ".join(["word"] * 60)
    s = SentenceSplitter(min_chars=6, max_chars=40)
    out = s.feed(words) + s.flush()
    assert len(out) > 3
    assert all(len(x) <= 40 for x in out)
    assert " ".join(out).split() == words.split()


def test_no_punctuation_chinese_is_cut_at_max_length():
    text = "我" * 100
    s = SentenceSplitter(min_chars=6, max_chars=30)
    out = s.feed(text) + s.flush()
    assert "".join(out) == text and max(map(len, out)) <= 30


def test_punctuation_only_pieces_are_dropped():
    assert split_stream("……！！ 你好呀朋友们。") == ["你好呀朋友们。"]


def test_newline_ends_a_sentence():
    assert split_stream("第一行内容很长\n第二行内容很长") == ["第一行内容很长", "第二行内容很长"]
