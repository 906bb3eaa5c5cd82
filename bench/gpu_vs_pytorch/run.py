#!/usr/bin/env python3
"""kiln FP16 engines vs PyTorch FP16 on the same GPU, same weights, batch 1 and 256, alternating, in one run.

  python3 bench/gpu_vs_pytorch/run.py --bench build/kiln_gpu_bench [--models resnet50,mobilenet_v2,...]
                                      [--out results.jsonl] [--compile resnet50,mobilenet_v2] [--rounds 2]

Per torchvision model (weights=None, seeded: timing does not depend on the values; no download happens):
  1. export to ONNX (FP32, opset 17) in a temporary folder; kiln imports that file;
  2. alternating, `--rounds` times: kiln (build/kiln_gpu_bench: FP16 engine for exactly that batch, CUDA graph
     launches timed with CUDA events), PyTorch eager FP16 channels_last + cudnn.benchmark replayed as a CUDA graph,
     and torch.compile (mode reduce-overhead: Inductor + CUDA graphs) for the models named by --compile.
Each figure is GPU time per batch from back-to-back launches (input already on the GPU for every contestant; kiln's
host<->device copy times are reported separately). The best round is kept. Prints a Markdown table.
"""
import argparse
import json
import os
import subprocess
import sys
import tempfile
import time

import torch
import torchvision

MODELS = {
    "resnet50": (lambda: torchvision.models.resnet50(weights=None), 224),
    "mobilenet_v2": (lambda: torchvision.models.mobilenet_v2(weights=None), 224),
    "googlenet": (lambda: torchvision.models.googlenet(weights=None, aux_logits=False, init_weights=False), 224),
    "efficientnet_b0": (lambda: torchvision.models.efficientnet_b0(weights=None), 224),
    "inception_v3": (lambda: torchvision.models.inception_v3(weights=None, aux_logits=False, init_weights=False), 299),
}


def time_fn(fn, iters):
    for _ in range(10):
        fn()
    torch.cuda.synchronize()
    a, b = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
    a.record()
    for _ in range(iters):
        fn()
    b.record()
    b.synchronize()
    return a.elapsed_time(b) / iters


def torch_graph(model, x):
    """PyTorch eager FP16 channels_last, replayed as one CUDA graph."""
    s = torch.cuda.Stream()
    s.wait_stream(torch.cuda.current_stream())
    with torch.cuda.stream(s), torch.no_grad():
        for _ in range(3):
            model(x)
    torch.cuda.current_stream().wait_stream(s)
    g = torch.cuda.CUDAGraph()
    with torch.cuda.graph(g), torch.no_grad():
        model(x)
    return g.replay


def kiln_time(bench, onnx_path, name, batch, iters):
    t0 = time.time()
    p = subprocess.run([bench, onnx_path, "--batch", str(batch), "--fp16", "--iters", str(iters), "--label", name],
                       capture_output=True, text=True, timeout=300)
    line = [l for l in p.stdout.splitlines() if l.startswith("{")]
    if p.returncode or not line:
        return {"error": (p.stderr.strip().splitlines() or ["?"])[-1][:300]}
    r = json.loads(line[-1])
    r["wall_s"] = round(time.time() - t0, 1)
    return r


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--bench", default="build/kiln_gpu_bench")
    ap.add_argument("--models", default=",".join(MODELS))
    ap.add_argument("--compile", default="resnet50,mobilenet_v2")
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--batches", default="1,256")
    ap.add_argument("--out", default="gpu_vs_pytorch.jsonl")
    a = ap.parse_args()
    torch.backends.cudnn.benchmark = True
    dev = torch.cuda.get_device_name()
    print(f"GPU: {dev}; torch {torch.__version__}, torchvision {torchvision.__version__}, cuDNN {torch.backends.cudnn.version()}",
          flush=True)
    rows = []
    tmp = tempfile.mkdtemp()
    out = open(a.out, "w")
    for name in a.models.split(","):
        make, size = MODELS[name]
        torch.manual_seed(0)
        model = make().eval().cuda()
        onnx_path = os.path.join(tmp, name + ".onnx")
        try:
            with torch.no_grad():
                x32 = torch.randn(1, 3, size, size, device="cuda")
                try:
                    torch.onnx.export(model, x32, onnx_path, opset_version=17, input_names=["input"],
                                      output_names=["logits"], dynamo=False)
                except TypeError:
                    torch.onnx.export(model, x32, onnx_path, opset_version=17, input_names=["input"],
                                      output_names=["logits"])
        except Exception as e:  # noqa: BLE001 - report and go on with PyTorch alone
            print(f"{name}: ONNX export failed: {e}", flush=True)
            onnx_path = None
        model = model.half().to(memory_format=torch.channels_last)
        compiled = None
        for batch in [int(b) for b in a.batches.split(",")]:
            iters = 200 if batch == 1 else 20
            x = torch.randn(batch, 3, size, size, device="cuda").half().to(memory_format=torch.channels_last)
            res = {"model": name, "batch": batch, "gpu": dev}
            best = {}
            eager = torch_graph(model, x)
            cfn = None
            if name in a.compile.split(","):
                t0 = time.time()
                compiled = torch.compile(model, mode="reduce-overhead")
                with torch.no_grad():
                    for _ in range(3):
                        compiled(x)
                res["compile_s"] = round(time.time() - t0, 1)

                def cfn():
                    with torch.no_grad():
                        return compiled(x)
            for r in range(a.rounds):
                if onnx_path:
                    k = kiln_time(a.bench, onnx_path, name, batch, iters)
                    if "error" in k:
                        res["kiln_error"] = k["error"]
                    else:
                        if "kiln" not in best or k["compute_ms"] < best["kiln"]["compute_ms"]:
                            best["kiln"] = k
                ms = time_fn(eager, iters)
                best["torch_graph_ms"] = min(best.get("torch_graph_ms", 1e9), ms)
                if cfn:
                    ms = time_fn(cfn, iters)
                    best["torch_compile_ms"] = min(best.get("torch_compile_ms", 1e9), ms)
            res.update(best)
            rows.append(res)
            out.write(json.dumps(res) + "\n")
            out.flush()
            print(json.dumps(res), flush=True)
            del eager
            torch.cuda.empty_cache()
    # Table
    print()
    print("| model | batch | kiln FP16 | PyTorch FP16 + CUDA graph | torch.compile (reduce-overhead) | kiln H2D / D2H |")
    print("|---|---|---|---|---|---|")
    for r in rows:
        def fmt(ms):
            if ms is None:
                return "—"
            return f"{ms:.3f} ms" if r["batch"] == 1 else f"{r['batch'] * 1000 / ms:,.0f} img/s ({ms:.2f} ms)"
        k = r.get("kiln")
        kiln_s = fmt(k["compute_ms"]) if k else f"failed: {r.get('kiln_error', '?')[:80]}"
        cp = f"{k['h2d_ms']:.3f} / {k['d2h_ms']:.3f} ms" if k else "—"
        print(f"| {r['model']} | {r['batch']} | {kiln_s} | {fmt(r.get('torch_graph_ms'))} | {fmt(r.get('torch_compile_ms'))} | {cp} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
