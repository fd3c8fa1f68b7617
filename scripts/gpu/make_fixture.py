#!/usr/bin/env python3
"""Write the recorded fixture harness/tests/fixtures/gpu-run-fixture: a results folder shaped
exactly as decode_bench.py writes one (the same writer, ternbench_results.py), for the tests
of `ternbench cost --gpu-run` on machines without a GPU.

IT IS NOT A MEASUREMENT. Its timings are synthetic, from a stated model: a decode step reads
the 8B model's FP16 weights (16.06 GB) at 1.4 TB/s (about 70% of an A100 80GB's 2.04 TB/s)
plus 1.5 ms per step per sequence; a prefill runs at 160 TFLOP/s; repetitions vary by a fixed
pattern of +-2%. Energy: 300 W during decode, 380 W during prefill. The machine block and the
notes say FIXTURE on every line a reader sees.

    python3 scripts/gpu/make_fixture.py            # rewrite the fixture
    python3 scripts/gpu/make_fixture.py --check    # exit 1 if the committed one differs
"""

import filecmp
import os
import shutil
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import ternbench_results as tr  # noqa: E402

ROOT = os.path.normpath(os.path.join(HERE, "..", ".."))
FIXTURES = os.path.join(ROOT, "harness", "tests", "fixtures")
RUN_ID = "gpu-run-fixture"
LABEL = "FIXTURE, NOT A MEASUREMENT"
JITTER = [1.00, 1.02, 0.99, 1.01, 0.98, 1.00]

# bitnet-8b with an untied head, FP16: Llama 3 8B's parameter count.
H, FFN, LAYERS, HEADS, KVH, VOCAB = 4096, 14336, 32, 32, 8, 128256
HD = H // HEADS
PARAMS = (LAYERS * (2 * H * H + 2 * H * KVH * HD + 3 * H * FFN + 2 * H)
          + 2 * VOCAB * H + H)
WEIGHT_BYTES = PARAMS * 2


# What decode_bench.py would have read: scenarios/cost-8b.toml's model and tests (kept here so
# the fixture does not change when that file's comments do).
SCENARIO_TEXT = f"""# {LABEL}: the tests of scenarios/cost-8b.toml, as scripts/gpu/decode_bench.py reads them
name = "cost-8b"
models = [{{ name = "bitnet-8b", sample_layers = "auto" }}]
tests = ["pp64", "tg32", "tg32 @ b2", "tg32 @ b4", "tg32 @ b8", "tg32 @ b16"]
repetitions = 6
warmup = 1
"""


def write(root):
    scenario = {
        "name": "cost-8b",
        "description": f"{LABEL}: the shape of a GPU twin of cost-8b (bitnet-8b, fp16)",
        "file": "scenarios/cost-8b.toml",
        "text": SCENARIO_TEXT,
    }
    machine = {
        "kind": "gpu",
        "gpu_name": f"{LABEL} (NVIDIA A100-SXM4-80GB shaped)",
        "gpu_memory_bytes": 85899345920,
        "gpu_compute_capability": "8.0",
        "gpu_count_used": 1,
        "driver_version": LABEL,
        "cuda_version": LABEL,
        "torch_version": LABEL,
        "python_version": LABEL,
        "host_cpu": LABEL,
        "os": LABEL,
        "power_source": f"{LABEL}: 300 W decode, 380 W prefill, stated",
        "timestamp_utc": "2026-12-07T00:00:00Z",
    }
    w = tr.RunWriter(root, RUN_ID, scenario, machine, fmt="f16",
                     started_utc="2026-12-07T00:00:00Z",
                     notes=[f"{LABEL}: synthetic timings written by scripts/gpu/make_fixture.py "
                            "through the writer of scripts/gpu/decode_bench.py, for tests only"])
    kv_pos = 2 * LAYERS * KVH * HD * 2
    rec = w.model("bitnet-8b", PARAMS, WEIGHT_BYTES, kv_pos, 12.5, "silu", LAYERS)
    tests = [(64, 0, 0, 1)] + [(0, 32, 0, b) for b in (1, 2, 4, 8, 16)]
    for (p, g, d, b) in tests:
        key = w.key("bitnet-8b", p, g, d, b, "cuda sm_80")
        samples = []
        for rep, j in enumerate(JITTER):
            pre = e_pre = None
            steps, e_dec = [], None
            if p:
                pre = 2 * PARAMS * p * b / 160e12 * j
                e_pre = tr.phase_energy(380.0 * pre, pre, f"{LABEL}: 380 W stated")
            if g:
                step = (WEIGHT_BYTES / 1.4e12 + 1.5e-3 * b) * j
                steps = [step] * g
                e_dec = tr.phase_energy(300.0 * step * g, step * g, f"{LABEL}: 300 W stated")
            s = tr.Sample(rep, f"2026-12-07T00:00:{rep:02d}Z", pre, steps, e_pre, e_dec,
                          WEIGHT_BYTES + 2 ** 30)
            w.sample(key, p, g, d, b, s)
            samples.append(s)
        w.cell(rec, key, p, g, d, b, samples)
    energy = {"source": "nvml", "status": "measured", "reason": None,
              "method": f"{LABEL}: stated watts"}
    return w.finish("2026-12-07T00:01:00Z", energy)


def main():
    if "--check" in sys.argv:
        with tempfile.TemporaryDirectory() as t:
            fresh = write(t)
            kept = os.path.join(FIXTURES, RUN_ID)
            names = sorted(os.listdir(fresh))
            _, bad, err = filecmp.cmpfiles(fresh, kept, names, shallow=False)
            if bad or err or sorted(os.listdir(kept)) != names:
                print(f"make_fixture --check: {kept} differs from what the writer writes now "
                      f"({', '.join(bad + err) or 'file list'}): run scripts/gpu/make_fixture.py")
                sys.exit(1)
            print(f"make_fixture --check: {kept} is what the writer writes")
        return
    kept = os.path.join(FIXTURES, RUN_ID)
    if os.path.isdir(kept):
        shutil.rmtree(kept)
    print(write(FIXTURES))


if __name__ == "__main__":
    main()
