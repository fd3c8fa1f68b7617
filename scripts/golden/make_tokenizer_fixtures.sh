#!/usr/bin/env bash
# Makes engine/tests/fixtures/tokenizer-gguf/ (see make_tokenizer_fixtures.py) in its own small
# virtualenv (tokenizers, sentencepiece, gguf, numpy from PyPI; no torch).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
venv=${TERNBENCH_TOKENIZER_VENV:-$here/.venv-tokenizer}
PY=${PYTHON:-python3}
[ -x "$venv/bin/python" ] || "$PY" -m venv "$venv"
"$venv/bin/python" -m pip install -q "tokenizers==0.22.1" "sentencepiece==0.2.1" "gguf==0.17.1" "numpy==2.2.6"
exec "$venv/bin/python" "$here/make_tokenizer_fixtures.py"
