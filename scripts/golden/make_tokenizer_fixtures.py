#!/usr/bin/env python3
"""Fixtures for ternbench's GGUF-vocabulary tokenizer (engine/src/load/gguf_vocab.rs).

Trains two tiny byte-level BPE tokenizers with Hugging Face `tokenizers` (the reference
implementation llama.cpp's own BPE tokenizer is checked against): one with Llama 3's
pre-tokenizer (the vocabulary type of BitNet b1.58 2B4T), one with GPT-2's. Each is written as
a vocabulary-only GGUF the way llama.cpp's convert_hf_to_gguf.py writes one
(tokenizer.ggml.model = gpt2, .pre, .tokens, .token_type with added special tokens as CONTROL,
.merges as "a b" strings, .bos_token_id, .add_bos_token), with the reference token ids the
Python tokenizer gives for a set of awkward texts, and its decoding of them.

And one SentencePiece BPE model (the vocabulary type of the 1bitLLM models, bitnet_b1_58-large
and -3B: Llama 2's settings, byte fallback, identity normalisation, a dummy space prefix, extra
whitespace kept) trained with Google's `sentencepiece`, written as convert_hf_to_gguf.py's
`_set_vocab_sentencepiece` writes one (tokenizer.ggml.model = llama, .pre = default, .tokens,
.scores, .token_type NORMAL/UNKNOWN/CONTROL/BYTE, unk/bos/eos ids, .add_bos_token,
.add_space_prefix, .remove_extra_whitespaces) with sentencepiece's own encodings (BOS first, as
llama.cpp adds it) and decodings: no merges are stored, the reader has to rebuild the merge
order from the scores.

Run: bash scripts/golden/make_tokenizer_fixtures.sh (makes its own virtualenv). Outputs go to
engine/tests/fixtures/tokenizer-gguf/ and are committed.
"""
from __future__ import annotations

import json
import sys
from importlib.metadata import version
from pathlib import Path

import gguf
import sentencepiece as spm
from tokenizers import Regex, Tokenizer, decoders, models, pre_tokenizers, processors, trainers

OUT = Path(__file__).resolve().parents[2] / "engine" / "tests" / "fixtures" / "tokenizer-gguf"

LLAMA3_SPLIT = (r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}|"
                r" ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+")
GPT2_SPLIT = r"'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+"

SPECIALS = ["<|begin_of_text|>", "<|end_of_text|>", "<|eot_id|>"]

CORPUS = [
    "The quick brown fox jumps over the lazy dog. " * 3,
    "BitNet b1.58 uses ternary weights: -1, 0 and +1, with 8-bit activations.",
    "Memory bandwidth decides decode speed; compute decides prefill.",
    "It's what they'd call a roofline: bytes per token over GB/s.",
    "Numbers 1234567890 and 3.14159 and 2026-12-05 appear too.",
    "Unicode: café, naïve, Zürich, 東京, 😀 emoji, Ελληνικά.",
    "Lines\nwith\n\nbreaks\r\nand\ttabs   and  spaces.",
    "def forward(x):\n    return x * 2  # a comment\n",
    "llama.cpp and bitnet.cpp run GGUF files; ternbench measures them.",
] * 4

TEXTS = [
    "Hello world",
    "The quick brown fox jumps over the lazy dog.",
    "It's 2026; we'd measured 1234567 tokens at 3.5 GB/s!",
    "  leading and trailing spaces  ",
    "new\nlines\n\n\nand\r\nCRLF\ttab",
    "café naïve Zürich 東京 😀",
    "<|begin_of_text|>special tokens<|eot_id|> in text",
    "x",
    "",
    "Unseen words: quixotic zephyr jubilant",
    "1234567890123",
    "don't DON'T Don't",
]

# More for SentencePiece: runs of spaces, words the merges build in different orders, bytes.
SPM_TEXTS = [
    " ",
    "a  b   c",
    "the the  the",
    "bandwidthbandwidth roofline-roofline",
    "Zürich\u00a0café",
    "tabs\t\tand\u3000ideographic space",
    "\x00\x1f control bytes",
]


def train(split: str, ignore_merges: bool) -> Tokenizer:
    tok = Tokenizer(models.BPE(ignore_merges=ignore_merges))
    tok.pre_tokenizer = pre_tokenizers.Sequence([
        pre_tokenizers.Split(Regex(split), behavior="isolated", invert=False),
        pre_tokenizers.ByteLevel(add_prefix_space=False, trim_offsets=True, use_regex=False),
    ])
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=700, min_frequency=1, special_tokens=SPECIALS,
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
                                  show_progress=False)
    tok.train_from_iterator(CORPUS, trainer=trainer)
    bos = tok.token_to_id(SPECIALS[0])
    tok.post_processor = processors.TemplateProcessing(
        single=f"{SPECIALS[0]} $A", pair=f"{SPECIALS[0]} $A $B:1",
        special_tokens=[(SPECIALS[0], bos)])
    return tok


def write_gguf(path: Path, tok: Tokenizer, pre: str) -> None:
    spec = json.loads(tok.to_str())
    vocab = spec["model"]["vocab"]
    tokens = [None] * len(vocab)
    for t, i in vocab.items():
        tokens[i] = t
    assert all(t is not None for t in tokens)
    specials = {a["id"] for a in spec["added_tokens"] if a["special"]}
    types = [gguf.TokenType.CONTROL if i in specials else gguf.TokenType.NORMAL
             for i in range(len(tokens))]
    merges = [m if isinstance(m, str) else " ".join(m) for m in spec["model"]["merges"]]
    w = gguf.GGUFWriter(str(path), arch="bitnet-b1.58")
    w.add_tokenizer_model("gpt2")
    w.add_tokenizer_pre(pre)
    w.add_token_list(tokens)
    w.add_token_types(types)
    w.add_token_merges(merges)
    w.add_bos_token_id(tok.token_to_id(SPECIALS[0]))
    w.add_eos_token_id(tok.token_to_id(SPECIALS[1]))
    w.add_add_bos_token(True)
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()


def train_spm() -> spm.SentencePieceProcessor:
    import io
    model = io.BytesIO()
    # Llama 2's tokenizer settings (its tokenizer.model's trainer and normalizer specs), scaled
    # down: rare characters (CJK, emoji) are left out of the pieces so they take byte fallback.
    spm.SentencePieceTrainer.train(
        sentence_iterator=iter(CORPUS), model_writer=model, model_type="bpe", vocab_size=800, hard_vocab_limit=False,
        character_coverage=0.98, byte_fallback=True, split_digits=True, split_by_whitespace=True,
        normalization_rule_name="identity", add_dummy_prefix=True,
        remove_extra_whitespaces=False, allow_whitespace_only_pieces=True,
        unk_id=0, bos_id=1, eos_id=2, pad_id=-1, max_sentence_length=4192, num_threads=1,
        minloglevel=2)
    return spm.SentencePieceProcessor(model_proto=model.getvalue())


def write_spm_gguf(path: Path, sp: spm.SentencePieceProcessor) -> None:
    tokens, scores, types = [], [], []
    for i in range(sp.get_piece_size()):
        tokens.append(sp.id_to_piece(i))
        scores.append(sp.get_score(i))
        if sp.is_unknown(i):
            types.append(gguf.TokenType.UNKNOWN)
        elif sp.is_control(i):
            types.append(gguf.TokenType.CONTROL)
        elif sp.is_unused(i):
            types.append(gguf.TokenType.UNUSED)
        elif sp.is_byte(i):
            types.append(gguf.TokenType.BYTE)
        else:
            types.append(gguf.TokenType.NORMAL)
    w = gguf.GGUFWriter(str(path), arch="bitnet")
    w.add_tokenizer_model("llama")
    w.add_tokenizer_pre("default")
    w.add_token_list(tokens)
    w.add_token_scores(scores)
    w.add_token_types(types)
    w.add_unk_token_id(sp.unk_id())
    w.add_bos_token_id(sp.bos_id())
    w.add_eos_token_id(sp.eos_id())
    w.add_add_bos_token(True)
    w.add_add_space_prefix(True)
    w.add_remove_extra_whitespaces(False)
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()


def main() -> int:
    OUT.mkdir(parents=True, exist_ok=True)
    cases = {}
    sp = train_spm()
    write_spm_gguf(OUT / "spm.gguf", sp)
    rows = []
    for text in TEXTS + SPM_TEXTS:
        ids = [sp.bos_id()] + sp.encode(text)
        rows.append({"text": text, "ids": ids, "decoded": sp.decode(ids[1:])})
    cases["spm"] = {"gguf": "spm.gguf", "vocab_size": sp.get_piece_size(), "encodings": rows}
    for name, split, ignore, pre in [("llama-bpe", LLAMA3_SPLIT, True, "llama-bpe"),
                                     ("gpt2", GPT2_SPLIT, False, "gpt2")]:
        tok = train(split, ignore)
        write_gguf(OUT / f"{name}.gguf", tok, pre)
        rows = []
        for text in TEXTS:
            ids = tok.encode(text).ids
            rows.append({"text": text, "ids": ids,
                         "decoded": tok.decode(ids, skip_special_tokens=True)})
        cases[name] = {"gguf": f"{name}.gguf", "vocab_size": tok.get_vocab_size(),
                       "encodings": rows}
    made_by = {"script": "scripts/golden/make_tokenizer_fixtures.py",
               "tokenizers": version("tokenizers"), "sentencepiece": version("sentencepiece"),
               "gguf": version("gguf"),
               "python": sys.version.split()[0]}
    (OUT / "expected.json").write_text(
        json.dumps({"made_by": made_by, "cases": cases}, ensure_ascii=False, indent=1) + "\n")
    print(f"wrote {OUT}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
