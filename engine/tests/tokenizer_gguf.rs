//! The tokenizer rebuilt from a GGUF file's embedded vocabulary against the reference
//! implementations on the same vocabulary: fixtures from
//! `scripts/golden/make_tokenizer_fixtures.py` — Hugging Face `tokenizers` (Python) for
//! byte-level BPE (Llama 3 and GPT-2 pre-tokenizers, special tokens, BOS), Google's
//! `sentencepiece` for a SentencePiece BPE vocabulary (scores only, byte fallback, space
//! prefix) — ids and decodings compared exactly.

use std::path::{Path, PathBuf};

use ternbench_engine::load::gguf::{Value, Writer};
use ternbench_engine::load::tokenizer::Tokenizer;

fn dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/tokenizer-gguf")
}

#[test]
fn gguf_vocabularies_encode_and_decode_as_the_reference() {
    let expected: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir().join("expected.json")).unwrap())
            .unwrap();
    let cases = expected["cases"].as_object().unwrap();
    assert_eq!(cases.len(), 3);
    for (name, case) in cases {
        let gguf = dir().join(case["gguf"].as_str().unwrap());
        // No tokenizer.json beside the fixtures: this is the embedded vocabulary.
        assert!(!Tokenizer::path_for(&gguf).exists());
        let t = Tokenizer::for_checkpoint(&gguf).unwrap_or_else(|e| panic!("{name}: {e}"));
        let rows = case["encodings"].as_array().unwrap();
        assert!(rows.len() >= 10);
        for row in rows {
            let text = row["text"].as_str().unwrap();
            let want: Vec<u32> = row["ids"]
                .as_array()
                .unwrap()
                .iter()
                .map(|v| v.as_u64().unwrap() as u32)
                .collect();
            assert_eq!(t.encode(text).unwrap(), want, "{name}: {text:?}");
            assert_eq!(
                t.decode(&want).unwrap(),
                row["decoded"].as_str().unwrap(),
                "{name}: decode {text:?}"
            );
        }
    }
}

fn write(path: &Path, kvs: Vec<(&str, Value)>) {
    let mut w = Writer::new();
    for (k, v) in kvs {
        w.kv(k, v);
    }
    std::fs::write(path, w.bytes()).unwrap();
}

fn strs(v: &[&str]) -> Value {
    Value::Array(v.iter().map(|s| Value::Str(s.to_string())).collect())
}

#[test]
fn unsupported_or_broken_vocabularies_name_the_key() {
    let d = tempfile::tempdir().unwrap();
    let p = d.path().join("m.gguf");
    let base = || {
        vec![
            ("tokenizer.ggml.model", Value::Str("gpt2".into())),
            ("tokenizer.ggml.pre", Value::Str("llama-bpe".into())),
            ("tokenizer.ggml.tokens", strs(&["a", "b", "ab"])),
            ("tokenizer.ggml.merges", strs(&["a b"])),
        ]
    };
    write(&p, base());
    let t = Tokenizer::for_checkpoint(&p).unwrap();
    assert_eq!(t.encode("abab").unwrap(), vec![2, 2]);

    let check = |kvs: Vec<(&str, Value)>, key: &str, words: &[&str]| {
        write(&p, kvs);
        let e = Tokenizer::for_checkpoint(&p).unwrap_err().to_string();
        assert!(e.contains("m.gguf") && e.contains(key), "{key}: {e}");
        for w in words {
            assert!(e.contains(w), "{key}: `{w}` missing in: {e}");
        }
    };
    let mut kv = base();
    kv[0].1 = Value::Str("bert".into());
    check(kv, "tokenizer.ggml.model", &["tokenizer.json", "--tokens"]);
    // SentencePiece: the merge order comes from the scores.
    let mut kv = base();
    kv[0].1 = Value::Str("llama".into());
    check(kv, "tokenizer.ggml.scores", &["missing"]);
    let spm = |scores: Value| {
        let mut kv = base();
        kv[0].1 = Value::Str("llama".into());
        kv.push(("tokenizer.ggml.scores", scores));
        kv
    };
    check(
        spm(Value::Array(vec![Value::F32(0.0)])),
        "tokenizer.ggml.scores",
        &["1 entries for 3 tokens"],
    );
    check(
        spm(Value::Array(vec![
            Value::F32(0.0),
            Value::F32(f32::NAN),
            Value::F32(0.0),
        ])),
        "tokenizer.ggml.scores",
        &["entry 1"],
    );
    let mut kv = spm(Value::Array(vec![Value::F32(-1.0); 3]));
    kv.push(("tokenizer.ggml.remove_extra_whitespaces", Value::Bool(true)));
    check(kv, "tokenizer.ggml.remove_extra_whitespaces", &["--tokens"]);
    // A minimal SentencePiece vocabulary: the space prefix; "ab" (score -1) merges before
    // "▁ab" (-0.5) can, which then beats the second "ab"; an uncovered character is unknown.
    let f32s = |v: &[f32]| Value::Array(v.iter().map(|&x| Value::F32(x)).collect());
    write(
        &p,
        vec![
            ("tokenizer.ggml.model", Value::Str("llama".into())),
            (
                "tokenizer.ggml.tokens",
                strs(&["<unk>", "\u{2581}", "a", "b", "ab", "\u{2581}ab"]),
            ),
            (
                "tokenizer.ggml.scores",
                f32s(&[0.0, -5.0, -3.0, -4.0, -1.0, -0.5]),
            ),
            (
                "tokenizer.ggml.token_type",
                Value::Array([2, 1, 1, 1, 1, 1].map(Value::I32).to_vec()),
            ),
        ],
    );
    let t = Tokenizer::for_checkpoint(&p).unwrap();
    assert_eq!(t.encode("abab").unwrap(), vec![5, 4]);
    assert_eq!(t.encode("x").unwrap(), vec![1, 0]);
    assert_eq!(t.decode(&[5, 4]).unwrap(), "abab");
    let mut kv = base();
    kv[1].1 = Value::Str("qwen2".into());
    check(kv, "tokenizer.ggml.pre", &["llama-bpe", "--tokens"]);
    let mut kv = base();
    kv.pop();
    check(kv, "tokenizer.ggml.merges", &["missing"]);
    let mut kv = base();
    kv[3].1 = strs(&["a b c"]);
    check(kv, "tokenizer.ggml.merges", &["entry 0"]);
    let mut kv = base();
    kv[2].1 = strs(&["a", "a"]);
    check(kv, "tokenizer.ggml.tokens", &["twice"]);
    let mut kv = base();
    kv.push((
        "tokenizer.ggml.token_type",
        Value::Array(vec![Value::I32(1)]),
    ));
    check(kv, "tokenizer.ggml.token_type", &["1 entries for 3 tokens"]);
    let mut kv = base();
    kv.push(("tokenizer.ggml.bos_token_id", Value::U32(9)));
    check(kv, "tokenizer.ggml.bos_token_id", &["not below"]);
    check(
        vec![("general.name", Value::Str("x".into()))],
        "--tokens",
        &["tokenizer.json"],
    );
}
