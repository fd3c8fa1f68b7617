"""Write a ternbench results folder (run.json schema 1, cells.jsonl, scenario.toml) from
per-repetition timings, with the statistics ternbench itself computes.

Standard library only, so the recorded fixture (make_fixture.py) is written by exactly the
code the GPU benchmark (decode_bench.py) uses, on a machine without PyTorch or a GPU.

The statistics mirror harness/src/records/stats: the median with a distribution-free 95%
interval from order statistics (Binomial(n, 1/2); none below 6 repetitions), mean, sample
standard deviation, CV, Tukey outliers, numpy-style linear quantiles; latency percentiles
over every decode step of every repetition. Token rates are aggregate over a batch's
sequences, as `SampleRecord::decode_tps` and `prefill_tps` compute them.
"""

import json
import math
import os

SCHEMA_VERSION = 1
LEVEL = 0.95
MEDIAN_CI = "median_order_statistics"


def _quantile_sorted(s, q):
    pos = min(max(q, 0.0), 1.0) * (len(s) - 1)
    i = int(math.floor(pos))
    f = pos - i
    return s[i] + (s[i + 1] - s[i]) * f if i + 1 < len(s) else s[i]


def _binomial_half_cdf(n):
    out, acc = [], 0.0
    for k in range(n + 1):
        acc += math.comb(n, k) / 2.0**n
        out.append(min(acc, 1.0))
    return out


def median_ci_ranks(n, level=LEVEL):
    """1-based ranks (lo, hi) of the median's interval and its coverage, or None."""
    if n == 0:
        return None
    cdf = _binomial_half_cdf(n)
    best = None
    for j in range(1, (n + 1) // 2 + 1):
        coverage = 1.0 - 2.0 * cdf[j - 1]
        if coverage + 1e-12 >= level:
            best = (j, n + 1 - j, min(coverage, 1.0))
        else:
            break
    return best


def summary(v):
    """ternbench's Summary of repetitions `v`, or None (empty or non-finite)."""
    if not v or any(not math.isfinite(x) for x in v):
        return None
    n = len(v)
    mean = sum(v) / n
    sd = math.sqrt(sum((x - mean) ** 2 for x in v) / (n - 1)) if n > 1 else 0.0
    s = sorted(v)
    ci = median_ci_ranks(n)
    q1, q3 = _quantile_sorted(s, 0.25), _quantile_sorted(s, 0.75)
    lo, hi = q1 - 1.5 * (q3 - q1), q3 + 1.5 * (q3 - q1)
    outliers = [i for i, x in enumerate(v) if x < lo or x > hi] if n >= 4 else []
    return {
        "n": n,
        "median": _quantile_sorted(s, 0.5),
        "mean": mean,
        "stddev": sd,
        "ci95_low": s[ci[0] - 1] if ci else None,
        "ci95_high": s[ci[1] - 1] if ci else None,
        "ci_level": ci[2] if ci else None,
        "ci_method": MEDIAN_CI,
        "min": s[0],
        "max": s[-1],
        "cv": sd / abs(mean) if mean != 0 else None,
        "outliers": outliers,
    }


def percentiles(v):
    if not v or any(not math.isfinite(x) for x in v):
        return None
    s = sorted(v)
    return {
        "n": len(s),
        "p50": _quantile_sorted(s, 0.5),
        "p90": _quantile_sorted(s, 0.9),
        "p99": _quantile_sorted(s, 0.99),
    }


def test_name(n_prompt, n_gen, n_depth=0, batch=1):
    """The cell's test as ternbench names it: pp64, tg32, pp64+tg32, then ` @ dN`, ` @ bB`."""
    if n_prompt and n_gen:
        t = f"pp{n_prompt}+tg{n_gen}"
    elif n_prompt:
        t = f"pp{n_prompt}"
    else:
        t = f"tg{n_gen}"
    if n_depth:
        t += f" @ d{n_depth}"
    if batch > 1:
        t += f" @ b{batch}"
    return t


def phase_energy(joules, seconds, how):
    """A PhaseEnergy measured on the GPU (NVML): its board energy, nothing of the host."""
    if joules is None:
        return {
            "method": "measured",
            "seconds": seconds,
            "cpu_total_joules": None,
            "cpu_total_net_joules": None,
            "domains_joules": {},
            "wraps_seen": 0,
            "dram_measured": None,
            "missing": how,
        }
    return {
        "method": "measured",
        "seconds": seconds,
        # The field the cost model reads as the device's total: here the GPU board's energy.
        "cpu_total_joules": joules,
        "cpu_total_net_joules": None,
        "domains_joules": {"gpu_board": joules},
        "wraps_seen": 0,
        "dram_measured": None,
        "notes": [how],
    }


class Sample:
    """One timed repetition of one cell."""

    def __init__(self, rep, time_utc, prefill_seconds, decode_step_seconds,
                 energy_prefill=None, energy_decode=None, peak_mem_bytes=None):
        self.rep = rep
        self.time_utc = time_utc
        self.prefill_seconds = prefill_seconds
        self.decode_step_seconds = list(decode_step_seconds)
        self.energy_prefill = energy_prefill
        self.energy_decode = energy_decode
        self.peak_mem_bytes = peak_mem_bytes


def _tokens(n, batch):
    return n * max(batch, 1)


def _cell_energy(key_n_prompt, n_gen, batch, samples):
    dec = [s for s in samples if n_gen > 0]
    pre = [s for s in samples if key_n_prompt > 0]
    def j(e):
        return e.get("cpu_total_joules") if e else None
    dj = [j(s.energy_decode) / _tokens(n_gen, batch) for s in dec if j(s.energy_decode) is not None]
    pj = [j(s.energy_prefill) / _tokens(key_n_prompt, batch) for s in pre
          if j(s.energy_prefill) is not None]
    watts = [j(s.energy_decode) / s.energy_decode["seconds"] for s in dec
             if j(s.energy_decode) is not None and s.energy_decode["seconds"] > 0]
    if not dj and not pj:
        return None
    notes = []
    for s in samples:
        for e in (s.energy_prefill, s.energy_decode):
            for n in (e or {}).get("notes", []):
                if n not in notes:
                    notes.append(n)
    out = {
        "method": "measured",
        "prefill_joules_per_token": summary(pj),
        "decode_joules_per_token": summary(dj),
        "decode_net_joules_per_token": None,
        "decode_watts": summary(watts),
        "dram_in_total": None,
        "decode_repetitions_with_energy": len(dj),
        "decode_repetitions": len(dec),
    }
    if dj and len(dj) == len(dec):
        out["samples_decode_joules_per_token"] = dj
    if len(dj) < len(dec):
        out["missing"] = f"{len(dec) - len(dj)} of {len(dec)} decode repetitions without a figure"
    if notes:
        out["notes"] = notes
    return out


class RunWriter:
    """A results folder under `root`, written as ternbench writes one."""

    def __init__(self, root, run_id, scenario, machine, engine="gpu-fp16", fmt="f16",
                 notes=None, started_utc=None, version="gpu-bench 1"):
        self.dir = os.path.join(root, run_id)
        n = 1
        while os.path.exists(self.dir):
            n += 1
            self.dir = os.path.join(root, f"{run_id}-{n}")
        os.makedirs(self.dir)
        self.run_id = os.path.basename(self.dir)
        self.scenario = scenario  # {name, description, file, text}
        self.machine = machine
        self.engine, self.format = engine, fmt
        self.notes = list(notes or [])
        self.started_utc = started_utc
        self.version = version
        self.models, self.cells = [], []
        with open(os.path.join(self.dir, "scenario.toml"), "w") as f:
            f.write(scenario["text"])
        self._jsonl = open(os.path.join(self.dir, "cells.jsonl"), "a")

    def _record(self, rec):
        self._jsonl.write(json.dumps(rec, sort_keys=False) + "\n")
        self._jsonl.flush()
        os.fsync(self._jsonl.fileno())

    def model(self, name, params, weight_bytes, kv_bytes_per_position, load_seconds,
              activation, layers):
        m = {
            "model": name,
            "engine": self.engine,
            "format": self.format,
            "head": self.format,
            "layers_built": layers,
            "layers_total": layers,
            "params": params,
            "weight_bytes": weight_bytes,
            "decode_bytes_per_token": weight_bytes,
            "decode_bytes_per_token_full_depth": weight_bytes,
            "kv_bytes_per_position": kv_bytes_per_position,
            "load_seconds": load_seconds,
            "activation": activation,
        }
        self.models.append(m)
        self._record(dict({"record": "model"}, **m))
        return m

    def key(self, model, n_prompt, n_gen, n_depth, batch, device):
        return {
            "model": model,
            "engine": self.engine,
            "format": self.format,
            "head": self.format,
            "isa": device,
            "threads": 1,
            "test": test_name(n_prompt, n_gen, n_depth, batch),
        }

    def sample(self, key, n_prompt, n_gen, n_depth, batch, s):
        self._record({
            "record": "sample",
            "key": key,
            "rep": s.rep,
            "time_utc": s.time_utc,
            "n_prompt": n_prompt,
            "n_gen": n_gen,
            "n_depth": n_depth,
            "batch": batch,
            "prefill_seconds": s.prefill_seconds,
            "decode_step_seconds": s.decode_step_seconds,
            "peak_rss_bytes": s.peak_mem_bytes,
            "counters_prefill": None,
            "counters_decode": None,
            "energy_prefill": s.energy_prefill,
            "energy_decode": s.energy_decode,
            "bandwidth_before_gbps": None,
            "bandwidth_after_gbps": None,
        })

    def cell(self, model, key, n_prompt, n_gen, n_depth, batch, samples, max_cv=0.05):
        b = max(batch, 1)
        pp = [_tokens(n_prompt, b) / s.prefill_seconds for s in samples
              if n_prompt and s.prefill_seconds and s.prefill_seconds > 0]
        tg = []
        for s in samples:
            t = sum(s.decode_step_seconds)
            if t > 0:
                tg.append(len(s.decode_step_seconds) * b / t)
        steps_ms = [x * 1e3 for s in samples for x in s.decode_step_seconds]
        ttft = [s.prefill_seconds for s in samples if s.prefill_seconds is not None]
        pp_s, tg_s = summary(pp), summary(tg)
        headline = tg_s or pp_s
        mems = [s.peak_mem_bytes for s in samples if s.peak_mem_bytes]
        c = {
            "key": key,
            "n_prompt": n_prompt,
            "n_gen": n_gen,
            "n_depth": n_depth,
            "batch": b,
            "sampled": None,
            "repetitions": len(samples),
            "load_seconds": model["load_seconds"],
            "decode_bytes_per_token": model["decode_bytes_per_token"] // b,
            "decode_kv_bytes_per_token": None,
            "prefill_tokens_per_s": pp_s,
            "decode_tokens_per_s": tg_s,
            "ttft_seconds": summary(ttft),
            "decode_latency_ms": percentiles(steps_ms),
            "peak_rss_bytes": max(mems) if mems else None,
            "decode_instructions_per_token": None,
            "decode_cycles_per_token": None,
            "decode_cache_misses_per_token": None,
            "prefill_instructions_per_token": None,
            "bandwidth_gbps": None,
            "decode_roofline_fraction": None,
            "decode_roofline": None,
            "roofline_paired": False,
            "decode_tokens_per_s_full_depth_estimate": None,
            "prefill_tokens_per_s_full_depth_estimate": None,
            "energy": _cell_energy(n_prompt, n_gen, b, samples),
            "noisy": bool(headline and headline["cv"] is not None and headline["cv"] > max_cv),
            "samples_prefill_tokens_per_s": pp,
            "samples_decode_tokens_per_s": tg,
        }
        if tg_s:
            c["decode_tokens_per_s_per_stream"] = summary([t / b for t in tg])
        self.cells.append(c)
        return c

    def finish(self, finished_utc, energy, status="complete"):
        self._jsonl.close()
        run = {
            "schema_version": SCHEMA_VERSION,
            "run_id": self.run_id,
            "status": status,
            "ternbench_version": self.version,
            "started_utc": self.started_utc,
            "finished_utc": finished_utc,
            "resumed": 0,
            "scenario": self.scenario,
            "machine": self.machine,
            "label": None,
            "price_usd_per_hour": None,
            "bandwidth": [],
            "counters": {
                "status": "unavailable",
                "reason": "a GPU run: no CPU hardware counters are read",
            },
            "energy": energy,
            "models": self.models,
            "cells": self.cells,
            "notes": self.notes,
        }
        tmp = os.path.join(self.dir, "run.json.tmp")
        with open(tmp, "w") as f:
            json.dump(run, f, indent=2)
            f.write("\n")
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, os.path.join(self.dir, "run.json"))
        return self.dir
