#!/usr/bin/env bash
# Creates scripts/golden/.venv with the pinned reference stack for make_fixtures.py.
# Idempotent: an existing venv whose pins already import is left as it is.
#
# torch: PyPI's Linux x86_64 torch wheel is the CUDA build. Installed with --no-deps it does not
# import (torch/__init__.py preloads libcublas etc. from the nvidia-* wheels and raises when they
# are missing), so we install it WITH its nvidia-*/triton dependencies (about 3.5 GB on disk,
# ~2-4 minutes here). Only the CPU is used. PyPI is the only index reachable here, so the
# download.pytorch.org CPU wheels are not an option.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
venv="$here/.venv"
PY="${PYTHON:-python3}"

TORCH=2.8.0
TRANSFORMERS=4.57.6
SAFETENSORS=0.6.2
NUMPY=2.3.3
GGUF=0.17.1
ACCELERATE=1.10.1  # the bitnet quantizer refuses to load without it (init_empty_weights)

check() {
  "$venv/bin/python" - <<PY 2>/dev/null
import torch, transformers, safetensors, numpy, gguf, accelerate
from importlib.metadata import version as v
want = {"torch": "$TORCH", "transformers": "$TRANSFORMERS", "safetensors": "$SAFETENSORS",
        "numpy": "$NUMPY", "gguf": "$GGUF", "accelerate": "$ACCELERATE"}
bad = {k: v(k) for k in want if v(k) != want[k]}
assert not bad, bad
from transformers import BitNetForCausalLM  # noqa: F401
from transformers.integrations.bitnet import AutoBitLinear, BitLinear  # noqa: F401
assert float(torch.ones(2) @ torch.ones(2)) == 2.0
PY
}

if [ -x "$venv/bin/python" ] && check; then
  echo "setup: $venv is ready (torch $TORCH, transformers $TRANSFORMERS, gguf $GGUF)"
  exit 0
fi

[ -x "$venv/bin/python" ] || "$PY" -m venv "$venv"
"$venv/bin/python" -m pip install -q --upgrade pip==25.2
t0=$(date +%s)
"$venv/bin/python" -m pip install -q "torch==$TORCH"
t1=$(date +%s)
"$venv/bin/python" -m pip install -q "transformers==$TRANSFORMERS" "safetensors==$SAFETENSORS" \
  "numpy==$NUMPY" "gguf==$GGUF" "accelerate==$ACCELERATE"
t2=$(date +%s)
echo "setup: torch install $((t1 - t0)) s, transformers+safetensors+numpy+gguf+accelerate $((t2 - t1)) s"
check || { echo "setup: the installed stack does not import; see above" >&2; exit 1; }
echo "setup: $venv is ready"
