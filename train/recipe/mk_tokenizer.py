#!/usr/bin/env python3
"""Build models/vlocr-nano/tokenizer.json: a byte-level BPE whose merges only
rebuild whole characters, plus LaTeX commands as added tokens.

Why byte-level: our tokenizer (language/tok_*.c) decodes a non-byte-level
vocab by joining tokens with spaces (the HF fallback); byte-level keeps
decoding exact and still gives one token per common character, because the
merges rebuild each frequent multi-byte UTF-8 character into one token.
Any other character falls back to its bytes, so every string round-trips.

Usage: python3 train/recipe/mk_tokenizer.py ../shared/corpus models/vlocr-nano
Deterministic: counts come from the corpus files, ties broken by code point.
"""
import collections, json, os, re, sys

corpus, out = sys.argv[1], sys.argv[2]

def bytes_to_unicode():
    bs = list(range(ord("!"), ord("~") + 1)) + list(range(ord("¡"), ord("¬") + 1)) + \
         list(range(ord("®"), ord("ÿ") + 1))
    cs = bs[:]
    n = 0
    for b in range(256):
        if b not in bs:
            bs.append(b); cs.append(256 + n); n += 1
    return dict(zip(bs, map(chr, cs)))

B2U = bytes_to_unicode()
def bl(s):
    return "".join(B2U[b] for b in s.encode("utf-8"))

# Specials first: ids are part of the model (config.json names bos/eos).
SPECIALS = ["<s>", "</s>", "<pad>", "<unk>", "<image>", "<text>", "<formula>", "<cell>"]

chars = collections.Counter()
for f in sorted(os.listdir(os.path.join(corpus, "text"))):
    if f.endswith(".txt"):
        with open(os.path.join(corpus, "text", f), encoding="utf-8", errors="replace") as fh:
            chars.update(fh.read())
cmds = collections.Counter()
for f in sorted(os.listdir(os.path.join(corpus, "formulas"))):
    if f.endswith(".txt"):
        with open(os.path.join(corpus, "formulas", f), encoding="utf-8", errors="replace") as fh:
            t = fh.read()
            chars.update(t)
            cmds.update(re.findall(r"\\[A-Za-z]+", t))

multi = [c for c, n in sorted(chars.items(), key=lambda kv: (-kv[1], kv[0]))
         if n >= 40 and len(c.encode("utf-8")) > 1 and c.isprintable()][:220]
multi.sort()
latex = [c for c, n in sorted(cmds.items(), key=lambda kv: (-kv[1], kv[0])) if n >= 30][:320]
latex.sort()

vocab, merges = {}, []
for s in SPECIALS:
    vocab[s] = len(vocab)
for b in range(256):
    vocab[B2U[b]] = len(vocab)
for c in multi:
    u = bl(c)
    # Left-to-right merges: a b -> ab, ab c -> abc, ...
    for k in range(2, len(u) + 1):
        if u[:k] not in vocab:
            merges.append(u[:k - 1] + " " + u[k - 1])
            vocab[u[:k]] = len(vocab)
added = [{"id": i, "content": s, "single_word": False, "lstrip": False, "rstrip": False,
          "normalized": False, "special": True} for i, s in enumerate(SPECIALS)]
for c in latex:
    vocab[bl(c)] = len(vocab)
    added.append({"id": vocab[bl(c)], "content": c, "single_word": False, "lstrip": False,
                  "rstrip": False, "normalized": False, "special": False})

tok = {
    "version": "1.0", "truncation": None, "padding": None,
    "added_tokens": added,
    "normalizer": None,
    "pre_tokenizer": {"type": "ByteLevel", "add_prefix_space": False, "trim_offsets": True,
                      "use_regex": False},
    "post_processor": None,
    "decoder": {"type": "ByteLevel", "add_prefix_space": False, "trim_offsets": True,
                "use_regex": False},
    "model": {"type": "BPE", "dropout": None, "unk_token": None, "continuing_subword_prefix": None,
              "end_of_word_suffix": None, "fuse_unk": False, "byte_fallback": False,
              "ignore_merges": False, "vocab": vocab, "merges": merges},
}
os.makedirs(out, exist_ok=True)
with open(os.path.join(out, "tokenizer.json"), "w", encoding="utf-8") as fh:
    json.dump(tok, fh, ensure_ascii=False, indent=1)
cfg = {"bos_token": "<s>", "eos_token": "</s>", "pad_token": "<pad>", "unk_token": "<unk>",
       "add_bos_token": False, "add_eos_token": False, "model_max_length": 1024,
       "tokenizer_class": "PreTrainedTokenizerFast"}
with open(os.path.join(out, "tokenizer_config.json"), "w", encoding="utf-8") as fh:
    json.dump(cfg, fh, ensure_ascii=False, indent=1)
print("vocab", len(vocab), "multi-byte chars", len(multi), "latex", len(latex), "merges", len(merges))
