#!/usr/bin/env python3
"""Write tokenizer.json for the conformance fixtures' synthetic byte tokenizer
(../shared/conformance/README.md): BOS=0, EOS=1, PAD=2, UTF-8 byte b -> 3+b,
<image>=300, <|ref|>=301, <|/ref|>=302, <|det|>=303, <|/det|>=304,
<|grounding|>=305 (vocab 320; ids 259..299 and 306..319 have no token).
A byte-level BPE model without merges: every byte is its own token, so the
tokenizers library (and ours) encodes text exactly as the fixtures did.
Usage: python3 make_tokenizer.py > tokenizer.json"""
import json


def bytes_to_unicode():
    # GPT-2's byte -> printable character table (tokenizers' ByteLevel).
    bs = list(range(ord("!"), ord("~") + 1)) + list(range(ord("¡"), ord("¬") + 1)) + \
        list(range(ord("®"), ord("ÿ") + 1))
    cs = bs[:]
    n = 0
    for b in range(256):
        if b not in bs:
            bs.append(b)
            cs.append(256 + n)
            n += 1
    return dict(zip(bs, map(chr, cs)))


def main():
    b2u = bytes_to_unicode()
    vocab = {b2u[b]: 3 + b for b in range(256)}
    specials = [(0, "<｜begin▁of▁sentence｜>", True), (1, "<｜end▁of▁sentence｜>", True),
                (2, "<｜▁pad▁｜>", True), (300, "<image>", False), (301, "<|ref|>", False),
                (302, "<|/ref|>", False), (303, "<|det|>", False), (304, "<|/det|>", False),
                (305, "<|grounding|>", False)]
    added = [{"id": i, "content": c, "single_word": False, "lstrip": False, "rstrip": False,
              "normalized": False, "special": s} for i, c, s in specials]
    for i, c, _ in specials:
        vocab[c] = i
    tok = {
        "version": "1.0",
        "truncation": None,
        "padding": None,
        "added_tokens": added,
        "normalizer": None,
        "pre_tokenizer": {"type": "ByteLevel", "add_prefix_space": False, "trim_offsets": False,
                          "use_regex": False},
        "post_processor": None,
        "decoder": {"type": "ByteLevel", "add_prefix_space": False, "trim_offsets": False,
                    "use_regex": False},
        "model": {"type": "BPE", "dropout": None, "unk_token": None,
                  "continuing_subword_prefix": None, "end_of_word_suffix": None,
                  "fuse_unk": False, "byte_fallback": False, "ignore_merges": False,
                  "vocab": dict(sorted(vocab.items(), key=lambda kv: kv[1])), "merges": []},
    }
    print(json.dumps(tok, ensure_ascii=False, indent=1))


if __name__ == "__main__":
    main()
