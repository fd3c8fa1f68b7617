#!/usr/bin/env python3
"""Decode the same model shape as a ternbench scenario on an NVIDIA GPU, FP16 or BF16, random
weights, and write a ternbench results folder that `ternbench cost --gpu-run` reads.

    python3 scripts/gpu/decode_bench.py --scenario scenarios/cost-8b.toml --out results
    ternbench cost --run results/<cpu run> --gpu-run results/<this run> --gpu a100-80gb

What it measures, per batch B of the scenario (its `tests`, `batch` axis and repetitions):
B sequences, each with its own KV cache slots and position, one forward pass per step over
all of them (as ternbench's batched decode and llama.cpp's llama-batched-bench); the prefill
of B prompts in one pass; every decode step timed (torch.cuda.synchronize around it); the
GPU's board energy per phase from NVML (the total-energy counter where the GPU has one,
Volta and newer; else power sampled every 50 ms by pynvml or `nvidia-smi`). A plain PyTorch
graph (no fused kernels, no paged attention, no CUDA graphs): a floor for what TensorRT-LLM
or vLLM reach on the same GPU, not their figure; the results say so.

The model is the scenario's zoo shape (bitnet-8b = Llama 3 8B: hidden 4096, FFN 14336,
32 layers, 32 heads, 8 KV heads, vocab 128256, SiLU; bitnet-2b4t; bitnet-700m), an untied
LM head, RMSNorm, RoPE, grouped-query attention; weights are random normal (speed does not
depend on their values). Needs: python3 >= 3.11, torch with CUDA, and pynvml
(nvidia-ml-py) or nvidia-smi on PATH for energy (`--power none` skips it).
"""

import argparse
import datetime as dt
import math
import os
import platform
import re
import shutil
import subprocess
import sys
import threading
import time
import tomllib

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import ternbench_results as tr  # noqa: E402

# name: (hidden, ffn, layers, heads, kv_heads, vocab, activation, rope_theta)
SHAPES = {
    "bitnet-8b": (4096, 14336, 32, 32, 8, 128256, "silu", 500000.0),
    "bitnet-2b4t": (2560, 6912, 30, 20, 5, 128256, "relu2", 500000.0),
    "bitnet-700m": (1536, 4096, 24, 16, 16, 32002, "silu", 10000.0),
}

TEST_RE = re.compile(
    r"^\s*(?:pp(\d+))?\s*\+?\s*(?:tg(\d+))?((?:\s*@\s*[db]\d+)*)\s*$")


def utc_now():
    return dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def parse_test(t):
    """(n_prompt, n_gen, n_depth, batch) of a ternbench test name; `+head` is CPU-only."""
    if "+head" in t:
        return None
    m = TEST_RE.match(t)
    if not m or not (m.group(1) or m.group(2)):
        raise SystemExit(f"scenario test {t!r}: expected ppN, tgN, ppN+tgN with @ dN / @ bB")
    depth, batch = 0, 1
    for kind, n in re.findall(r"@\s*([db])(\d+)", m.group(3) or ""):
        if kind == "d":
            depth = int(n)
        else:
            batch = int(n)
    return int(m.group(1) or 0), int(m.group(2) or 0), depth, batch


def plan(args):
    """The model and the cells to measure, from --scenario or the flags."""
    if args.scenario:
        with open(args.scenario, "rb") as f:
            text = f.read().decode()
        sc = tomllib.loads(text)
        models = sc.get("models", [])
        name = models[0] if models and isinstance(models[0], str) else models[0]["name"]
        tests = [p for p in (parse_test(t) for t in sc.get("tests", [])) if p]
        batches = sc.get("batch")
        if batches is not None:
            batches = [batches] if isinstance(batches, int) else batches
            tests = [(p, g, d, b) for (p, g, d, b0) in tests
                     for b in (batches if b0 == 1 else [b0])]
        reps = args.repetitions or sc.get("repetitions", 6)
        warmup = args.warmup if args.warmup is not None else sc.get("warmup", 1)
        info = {"name": sc.get("name", "gpu"), "description":
                f"GPU twin of {sc.get('name', 'a scenario')}: {sc.get('description', '')}",
                "file": os.path.abspath(args.scenario), "text": text}
    else:
        name = args.model
        tests = []
        for b in args.batch:
            if args.n_prompt:
                tests.append((args.n_prompt, 0, 0, b))
            if args.n_gen:
                tests.append((0, args.n_gen, 0, b))
        reps = args.repetitions or 6
        warmup = 1 if args.warmup is None else args.warmup
        text = (f'name = "gpu-{name}"\nmodels = ["{name}"]\ntests = {[tr.test_name(*t) for t in tests]}\n'
                f"repetitions = {reps}\nwarmup = {warmup}\n").replace("'", '"')
        info = {"name": f"gpu-{name}", "description": f"{name} on a GPU", "file": None,
                "text": text}
    if name not in SHAPES:
        raise SystemExit(f"model {name!r}: this script knows {', '.join(SHAPES)}")
    if not tests:
        raise SystemExit("no test to run (the scenario's tests are all +head, which is CPU-only)")
    return name, tests, reps, warmup, info


class Power:
    """GPU board energy over a window: NVML's energy counter, else sampled power."""

    def __init__(self, how, index):
        self.how, self.index, self.nvml, self.handle = how, index, None, None
        self.counter = False
        if how in ("auto", "pynvml"):
            try:
                import pynvml
                pynvml.nvmlInit()
                self.nvml = pynvml
                self.handle = pynvml.nvmlDeviceGetHandleByIndex(index)
                try:
                    pynvml.nvmlDeviceGetTotalEnergyConsumption(self.handle)
                    self.counter = True
                except pynvml.NVMLError:
                    self.counter = False
                self.how = "pynvml"
            except Exception as e:  # no pynvml, or NVML fails to start
                if how == "pynvml":
                    raise SystemExit(f"--power pynvml: {e} (pip install nvidia-ml-py)")
                self.how = "nvidia-smi" if shutil.which("nvidia-smi") else "none"
        if self.how == "nvidia-smi" and not shutil.which("nvidia-smi"):
            raise SystemExit("--power nvidia-smi: nvidia-smi is not on PATH")
        self._samples, self._stop, self._thread = [], None, None

    def describe(self):
        if self.how == "pynvml" and self.counter:
            return "NVML total-energy counter of the GPU board (nvmlDeviceGetTotalEnergyConsumption)"
        if self.how == "pynvml":
            return "NVML board power sampled every 50 ms (nvmlDeviceGetPowerUsage), integrated"
        if self.how == "nvidia-smi":
            return "nvidia-smi power.draw sampled every 50 ms, integrated"
        return "none"

    def _read_w(self):
        if self.how == "pynvml":
            return self.nvml.nvmlDeviceGetPowerUsage(self.handle) / 1000.0
        out = subprocess.run(
            ["nvidia-smi", f"--id={self.index}", "--query-gpu=power.draw",
             "--format=csv,noheader,nounits"], capture_output=True, text=True, timeout=5)
        return float(out.stdout.strip().splitlines()[0])

    def start(self):
        if self.how == "none":
            return
        if self.counter:
            self._mj = self.nvml.nvmlDeviceGetTotalEnergyConsumption(self.handle)
            return
        self._samples, self._stop = [], threading.Event()

        def loop():
            while not self._stop.is_set():
                try:
                    self._samples.append((time.perf_counter(), self._read_w()))
                except Exception:
                    pass
                self._stop.wait(0.05)
        self._thread = threading.Thread(target=loop, daemon=True)
        self._thread.start()

    def stop(self, seconds):
        """Joules of the window and how they were read (None: why)."""
        if self.how == "none":
            return None, "no GPU power source (--power none, or neither pynvml nor nvidia-smi)"
        if self.counter:
            j = (self.nvml.nvmlDeviceGetTotalEnergyConsumption(self.handle) - self._mj) / 1000.0
            return j, self.describe() + "; host CPU and memory not counted"
        self._stop.set()
        self._thread.join()
        w = [p for _, p in self._samples]
        if not w:
            return None, "no power sample in the window (shorter than 50 ms?)"
        return sum(w) / len(w) * seconds, (
            self.describe() + f" ({len(w)} samples); host CPU and memory not counted")


def build(torch, name, dtype, device, max_len, max_batch):
    h, ffn, layers, heads, kvh, vocab, act, theta = SHAPES[name]
    hd = h // heads
    g = torch.Generator(device=device).manual_seed(0)

    def w(*shape):
        return (torch.randn(*shape, generator=g, device=device, dtype=torch.float32) * 0.02).to(dtype)
    model = {
        "embed": w(vocab, h), "head": w(vocab, h), "norm": torch.ones(h, device=device, dtype=dtype),
        "layers": [{
            "wq": w(heads * hd, h), "wk": w(kvh * hd, h), "wv": w(kvh * hd, h), "wo": w(h, heads * hd),
            "gate": w(ffn, h), "up": w(ffn, h), "down": w(h, ffn),
            "n1": torch.ones(h, device=device, dtype=dtype), "n2": torch.ones(h, device=device, dtype=dtype),
        } for _ in range(layers)],
        "k": torch.zeros(layers, max_batch, kvh, max_len, hd, device=device, dtype=dtype),
        "v": torch.zeros(layers, max_batch, kvh, max_len, hd, device=device, dtype=dtype),
    }
    inv = 1.0 / (theta ** (torch.arange(0, hd, 2, device=device, dtype=torch.float32) / hd))
    ang = torch.outer(torch.arange(max_len, device=device, dtype=torch.float32), inv)
    model["cos"], model["sin"] = ang.cos().to(dtype), ang.sin().to(dtype)
    params = sum(p.numel() for p in [model["embed"], model["head"], model["norm"]])
    params += sum(t.numel() for L in model["layers"] for t in L.values())
    shape = dict(h=h, hd=hd, heads=heads, kvh=kvh, act=act, layers=layers)
    return model, shape, params


def forward(torch, F, m, sh, tokens, pos):
    """Logits of the last position of each sequence; tokens [B, T] at positions pos..pos+T."""
    B, T = tokens.shape
    x = m["embed"][tokens]
    cos, sin = m["cos"][pos:pos + T], m["sin"][pos:pos + T]

    def rope(t):  # t [B, n, T, hd], rotate-half form
        a, b = t[..., : sh["hd"] // 2], t[..., sh["hd"] // 2:]
        c, s = torch.cat([cos, cos], -1), torch.cat([sin, sin], -1)
        return t * c + torch.cat([-b, a], -1) * s

    def norm(t, wgt):
        return F.rms_norm(t, (t.shape[-1],), wgt, 1e-5)
    for i, L in enumerate(m["layers"]):
        y = norm(x, L["n1"])
        q = (y @ L["wq"].T).view(B, T, sh["heads"], sh["hd"]).transpose(1, 2)
        k = (y @ L["wk"].T).view(B, T, sh["kvh"], sh["hd"]).transpose(1, 2)
        v = (y @ L["wv"].T).view(B, T, sh["kvh"], sh["hd"]).transpose(1, 2)
        q, k = rope(q), rope(k)
        m["k"][i, :B, :, pos:pos + T] = k
        m["v"][i, :B, :, pos:pos + T] = v
        rep = sh["heads"] // sh["kvh"]
        kk = m["k"][i, :B, :, : pos + T].repeat_interleave(rep, 1)
        vv = m["v"][i, :B, :, : pos + T].repeat_interleave(rep, 1)
        mask = None
        if T > 1:  # each prompt position sees the cache and the prompt up to itself
            mask = (torch.arange(pos + T, device=x.device)[None, :]
                    <= (pos + torch.arange(T, device=x.device))[:, None])
        a = F.scaled_dot_product_attention(q, kk, vv, attn_mask=mask)
        x = x + a.transpose(1, 2).reshape(B, T, -1) @ L["wo"].T
        y = norm(x, L["n2"])
        gte = y @ L["gate"].T
        hid = (F.silu(gte) if sh["act"] == "silu" else F.relu(gte) ** 2) * (y @ L["up"].T)
        x = x + hid @ L["down"].T
    return norm(x[:, -1], m["norm"]) @ m["head"].T


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--scenario", help="a ternbench scenario (its first model, tests, batch axis, repetitions)")
    ap.add_argument("-m", "--model", default="bitnet-8b", choices=sorted(SHAPES))
    ap.add_argument("-p", "--n-prompt", type=int, default=64)
    ap.add_argument("-n", "--n-gen", type=int, default=32)
    ap.add_argument("--batch", type=lambda s: [int(x) for x in s.split(",")], default=[1, 2, 4, 8, 16])
    ap.add_argument("-r", "--repetitions", type=int)
    ap.add_argument("--warmup", type=int)
    ap.add_argument("--dtype", choices=["fp16", "bf16"], default="fp16")
    ap.add_argument("--device", default="cuda:0")
    ap.add_argument("--power", choices=["auto", "pynvml", "nvidia-smi", "none"], default="auto")
    ap.add_argument("--out", default="results", help="folder the run folder is written under")
    args = ap.parse_args()
    name, tests, reps, warmup, info = plan(args)
    try:
        import torch
        import torch.nn.functional as F
    except ImportError:
        raise SystemExit("PyTorch is not installed: pip install torch (a CUDA build)")
    if not torch.cuda.is_available():
        raise SystemExit("no CUDA GPU visible to PyTorch: this script measures an NVIDIA GPU")
    dev = torch.device(args.device)
    dtype = torch.float16 if args.dtype == "fp16" else torch.bfloat16
    index = dev.index or 0
    props = torch.cuda.get_device_properties(index)
    max_len = max(p + g + d for p, g, d, _ in tests) + 1
    max_batch = max(b for *_, b in tests)
    t0 = time.perf_counter()
    model, sh, params = build(torch, name, dtype, dev, max_len, max_batch)
    torch.cuda.synchronize(dev)
    load_s = time.perf_counter() - t0
    power = Power(args.power, index)
    driver = "unknown"
    if shutil.which("nvidia-smi"):
        q = subprocess.run(["nvidia-smi", f"--id={index}", "--query-gpu=driver_version,power.limit",
                            "--format=csv,noheader,nounits"], capture_output=True, text=True)
        if q.returncode == 0 and q.stdout.strip():
            driver = q.stdout.strip().split(",")[0].strip()
    machine = {
        "kind": "gpu",
        "gpu_name": props.name,
        "gpu_memory_bytes": props.total_memory,
        "gpu_compute_capability": f"{props.major}.{props.minor}",
        "gpu_count_used": 1,
        "driver_version": driver,
        "cuda_version": torch.version.cuda,
        "torch_version": torch.__version__,
        "python_version": platform.python_version(),
        "host_cpu": platform.processor() or platform.machine(),
        "os": platform.platform(),
        "power_source": power.describe(),
        "timestamp_utc": utc_now(),
    }
    started = utc_now()
    run_id = dt.datetime.now(dt.timezone.utc).strftime("%Y%m%d-%H%M%S") + "-gpu-" + info["name"]
    w = tr.RunWriter(args.out, run_id, info, machine, fmt=args.dtype.replace("fp", "f"),
                     started_utc=started, notes=[
                         f"GPU run of scripts/gpu/decode_bench.py: {name}'s shape, random {args.dtype} "
                         "weights, plain PyTorch (no fused kernels, paged attention or CUDA graphs): "
                         "a floor for a serving stack on this GPU, not its figure",
                         f"energy: {power.describe()}",
                     ])
    kv_pos = 2 * sh["layers"] * sh["kvh"] * sh["hd"] * 2
    rec = w.model(name, params, params * 2, kv_pos, load_s, sh["act"], sh["layers"])
    gen = torch.Generator(device=dev).manual_seed(1)
    vocab = SHAPES[name][5]
    for (p, g, d, b) in tests:
        key = w.key(name, p, g, d, b, f"cuda sm_{props.major}{props.minor}")
        samples = []
        for rep in range(-warmup, reps):
            torch.cuda.reset_peak_memory_stats(dev)
            pos = 0
            if d:  # the cache already holds d tokens: untimed
                forward(torch, F, model, sh, torch.randint(0, vocab, (b, d), generator=gen, device=dev), 0)
                pos = d
            pre_s = e_pre = None
            with torch.inference_mode():
                if p:
                    toks = torch.randint(0, vocab, (b, p), generator=gen, device=dev)
                    torch.cuda.synchronize(dev)
                    power.start()
                    s0 = time.perf_counter()
                    logits = forward(torch, F, model, sh, toks, pos)
                    torch.cuda.synchronize(dev)
                    pre_s = time.perf_counter() - s0
                    j, how = power.stop(pre_s)
                    e_pre = tr.phase_energy(j, pre_s, how)
                    pos += p
                    nxt = logits.argmax(-1, keepdim=True)
                else:
                    nxt = torch.randint(0, vocab, (b, 1), generator=gen, device=dev)
                steps = []
                e_dec = None
                if g:
                    power.start()
                    for _ in range(g):
                        s0 = time.perf_counter()
                        nxt = forward(torch, F, model, sh, nxt, pos).argmax(-1, keepdim=True)
                        torch.cuda.synchronize(dev)
                        steps.append(time.perf_counter() - s0)
                        pos += 1
                    j, how = power.stop(sum(steps))
                    e_dec = tr.phase_energy(j, sum(steps), how)
            if rep < 0:
                continue
            s = tr.Sample(rep, utc_now(), pre_s, steps, e_pre, e_dec,
                          torch.cuda.max_memory_allocated(dev))
            w.sample(key, p, g, d, b, s)
            samples.append(s)
            print(f"{key['test']}: rep {rep + 1}/{reps}"
                  + (f" pp {p * b / pre_s:.1f} t/s" if pre_s else "")
                  + (f" tg {len(steps) * b / sum(steps):.1f} t/s" if steps else ""), file=sys.stderr)
        w.cell(rec, key, p, g, d, b, samples)
    energy = {"source": "nvml" if power.how != "none" else "none",
              "status": "measured" if power.how != "none" else "unavailable",
              "reason": None if power.how != "none" else power.stop(0)[1],
              "method": power.describe()}
    path = w.finish(utc_now(), energy)
    print(path)


if __name__ == "__main__":
    main()
