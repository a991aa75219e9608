#!/usr/bin/env python3
"""wgsl-nn's `run MODEL.onnx` beside other ONNX runtimes on the same host.

    python3 scripts/onnx_peers.py [--out /tmp/onnx_peers] [--rounds 3]
        [--models resnet18,mobilenet_v2,transformer,vit] [--batches 1,8]
        [--table FILE.md] [--slow-ms 6000] [--bin target/release/wgsl-nn]

For each model (scripts/onnx_crosscheck.py's four, random weights, the same
weights at every batch) and batch size (the batch dimension fixed in the
export), a seeded input is made and these are timed, one after the other in
each round (A B C ... A B C ...) so that a slow spell of a shared machine
hits all of them alike:

  wgsl-nn lavapipe  `wgsl-nn run M.onnx --input-npy X.npy --check off --json`
                    on the default adapter: report.median_ms (report.clock
                    says which clock), report.median_wall_ms, and the CPU
                    baseline (cpu_baseline.median_ms: the project's own f32
                    CPU path) of the same process;
  wgsl-nn GL        the same with `--backend gl` (llvmpipe), no CPU baseline;
  onnxruntime       CPUExecutionProvider, intra_op_num_threads=2,
                    inter_op_num_threads=1; 3 warm-up runs, then 10 timed;
  tract             Sonos' tract (pip package `tract`):
                    tract.onnx().load(p).into_model().into_runnable()
                    (the 0.2x API, model_for_path().into_optimized(), where
                    the installed version has it); 3 warm-up, 10 timed;
  wonnx             ONNX on wgpu (pip package `wonnx`) in a worker process
                    of this script: it needs every intermediate shape in the
                    model and cannot take Gemm with transB=1, so it gets a
                    prepared copy (onnxsim where installed, Gemm weights
                    transposed ahead, onnx shape inference: the same maths);
                    one untimed first run, then warm-ups and timed runs.

wgsl-nn runs with --warmup 2 --repeats 5 --cpu-repeats 5 at batch 1 and
--warmup 1 --repeats 3 --cpu-repeats 3 above; wonnx with 1 warm-up and 3
timed. A GPU cell whose median is above --slow-ms after a round (or, above
batch 1, whose estimate, batch/2 times its batch-1 median, is) gets no
further rounds, and an estimated one runs a single timed run; the table
marks such cells with (rounds x runs). Each figure is the median over
rounds of the per-round medians. Every tool's output is compared with
onnxruntime's (rel L2). A tool that is missing or fails is recorded with its
error, and the rest goes on. For resnet18 batch 1 the table also gives
wgsl-nn's first_run_ms and the process wall time (time.perf_counter around
the subprocess, median of 3) of `wgsl-nn run ... --check off --repeats 1
--warmup 0 --cpu-repeats 0`.

Needs torch, torchvision, onnx, onnxruntime, numpy, a release build of
wgsl-nn; tract, wonnx and onnxsim are optional (pip install tract wonnx
onnxsim). Results: a table on stdout, results.json in --out, and the
markdown table in --table; `--retable RESULTS.json --table FILE.md` writes
the table of an earlier run again without timing anything.
"""
import argparse
import importlib.metadata
import json
import os
import platform
import re
import selectors
import shlex
import statistics
import subprocess
import sys
import time
import traceback

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
TOOLS = ["vk", "gl", "ort", "tract", "wonnx"]
GPU_TOOLS = {"vk", "gl", "wonnx"}
TOOL_NAMES = {"vk": "wgsl-nn lavapipe", "gl": "wgsl-nn GL", "ort": "onnxruntime CPU", "tract": "tract",
              "wonnx": "wonnx"}
CPU_WARMUP, CPU_RUNS = 3, 10  # onnxruntime and tract, per round
WONNX_WARMUP, WONNX_RUNS = 1, 3


def wgsl_reps(batch):
    """(warmup, repeats, cpu_repeats) of a wgsl-nn run at this batch."""
    return (2, 5, 5) if batch == 1 else (1, 3, 3)


def version(pkg):
    try:
        return importlib.metadata.version(pkg)
    except importlib.metadata.PackageNotFoundError:
        return None


def short_err(text, n=300):
    """The telling line of an error text: a panic or exception line if there is one."""
    lines = [ln.strip() for ln in str(text).strip().splitlines() if ln.strip()]
    if not lines:
        return "(no message)"
    for pat in ("panicked at", "PanicException", "Error:", "error:", "Error"):
        hits = [ln for ln in lines if pat in ln]
        if hits:
            msg = hits[-1]
            break
    else:
        msg = lines[-1]
    msg = re.sub(r"\s+", " ", msg)
    return msg if len(msg) <= n else msg[:n - 3] + "..."


def show_cmd(argv):
    """A shell command line for argv, readable: "..." where an argument holds a single quote."""
    out = []
    for a in argv:
        if "'" in a and not re.search(r'["$`\\!]', a):
            out.append(f'"{a}"')
        else:
            out.append(shlex.quote(a))
    return " ".join(out)


def rel_l2(a, b):
    a = np.asarray(a, np.float64).ravel()
    b = np.asarray(b, np.float64).ravel()
    if a.size != b.size:
        return None
    return float(np.linalg.norm(a - b) / max(np.linalg.norm(b), 1e-300))


# ---------------------------------------------------------------- host

def host_info():
    cpu = "unknown CPU"
    try:
        with open("/proc/cpuinfo") as f:
            for ln in f:
                if ln.startswith("model name"):
                    cpu = ln.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    mesa = None
    try:
        out = subprocess.run(["dpkg", "-s", "mesa-vulkan-drivers"], capture_output=True, text=True).stdout
        m = re.search(r"^Version:\s*(\S+)", out, re.M)
        mesa = m.group(1) if m else None
    except OSError:
        pass
    return {"cpu": cpu, "cores": os.cpu_count(), "mesa": mesa or "unknown", "python": platform.python_version(),
            "onnxruntime": version("onnxruntime"), "tract": version("tract"), "wonnx": version("wonnx"),
            "onnxsim": version("onnxsim"), "torch": version("torch"), "torchvision": version("torchvision")}


# ---------------------------------------------------------------- wgsl-nn

def wgsl_run(args, onnx_path, x_path, y_path, backend, warmup, repeats, cpu_repeats):
    """One `wgsl-nn run` process; a dict of its figures, or raises RuntimeError."""
    cmd = [args.bin, "run", onnx_path, "--input-npy", x_path, "--check", "off", "--json",
           "--warmup", str(warmup), "--repeats", str(repeats), "--cpu-repeats", str(cpu_repeats)]
    if y_path:
        cmd += ["--output-npy", y_path]
    if backend:
        cmd += ["--backend", backend]
    t0 = time.perf_counter()
    try:
        p = subprocess.run(cmd, capture_output=True, text=True, timeout=args.timeout)
    except subprocess.TimeoutExpired:
        raise RuntimeError(f"timed out after {args.timeout:.0f}s: {shlex.join(cmd)}")
    wall = time.perf_counter() - t0
    if p.returncode != 0:
        raise RuntimeError(f"exit {p.returncode}: {short_err(p.stderr or p.stdout)}")
    try:
        d = json.loads(p.stdout)
    except json.JSONDecodeError as ex:
        raise RuntimeError(f"stdout is not JSON ({ex}): {short_err(p.stderr)}")
    r = d.get("report", {})
    cb = d.get("cpu_baseline") or {}
    return {"ms": r.get("median_ms"), "wall_ms": r.get("median_wall_ms"), "first_run_ms": r.get("first_run_ms"),
            "clock": r.get("clock"), "const_bytes": r.get("const_bytes"),
            "activation_bytes": r.get("activation_bytes"), "cpu_ms": cb.get("median_ms"),
            "cpu_threads": cb.get("threads"), "adapter": d.get("adapter"), "passed": d.get("passed"),
            "process_s": wall, "runs": repeats, "warmup": warmup}


# ---------------------------------------------------------------- in-process CPU runtimes

def time_calls(fn, warmup, runs):
    for _ in range(warmup):
        fn()
    ts = []
    c0, w0 = time.process_time(), time.perf_counter()
    for _ in range(runs):
        t = time.perf_counter()
        fn()
        ts.append((time.perf_counter() - t) * 1e3)
    cpu_per_wall = (time.process_time() - c0) / max(time.perf_counter() - w0, 1e-9)
    return ts, cpu_per_wall


class OrtTool:
    def __init__(self, onnx_path, x):
        import onnxruntime as ort
        so = ort.SessionOptions()
        so.intra_op_num_threads = 2
        so.inter_op_num_threads = 1
        self.sess = ort.InferenceSession(onnx_path, so, providers=["CPUExecutionProvider"])
        self.feed = {"input": x}
        self.y = self.sess.run(["output"], self.feed)[0]

    def round(self):
        ts, cpw = time_calls(lambda: self.sess.run(["output"], self.feed), CPU_WARMUP, CPU_RUNS)
        return {"ms": statistics.median(ts), "runs": len(ts), "cpu_per_wall": cpw}


class TractTool:
    def __init__(self, onnx_path, x):
        import tract
        onnx = tract.onnx()
        if hasattr(onnx, "model_for_path"):  # tract 0.2x Python API
            self.model = onnx.model_for_path(onnx_path).into_optimized().into_runnable()
            self.api = "model_for_path().into_optimized().into_runnable()"
        else:  # 0.21+: into_runnable() optimises
            self.model = onnx.load(onnx_path).into_model().into_runnable()
            self.api = "load().into_model().into_runnable()"
        self.x = x
        self.y = self.model.run([x])[0].to_numpy()

    def round(self):
        ts, cpw = time_calls(lambda: self.model.run([self.x]), CPU_WARMUP, CPU_RUNS)
        return {"ms": statistics.median(ts), "runs": len(ts), "cpu_per_wall": cpw}


# ---------------------------------------------------------------- wonnx

def wonnx_prepare(onnx_path, out_path):
    """A copy wonnx can take: simplified (onnxsim, where installed), Gemm
    weights transposed ahead instead of transB=1, every shape inferred.
    Returns the list of steps taken."""
    import onnx
    from onnx import numpy_helper, shape_inference
    m = onnx.load(onnx_path)
    steps = []
    try:
        import onnxsim
        m, ok = onnxsim.simplify(m)
        steps.append("onnxsim" if ok else "onnxsim (check failed)")
    except ImportError:
        steps.append("no onnxsim")
    inits = {t.name: t for t in m.graph.initializer}
    n_t = 0
    for node in m.graph.node:
        if node.op_type != "Gemm" or len(node.input) < 2 or node.input[1] not in inits:
            continue
        for a in node.attribute:
            if a.name == "transB" and a.i == 1:
                t = inits[node.input[1]]
                t.CopyFrom(numpy_helper.from_array(np.ascontiguousarray(numpy_helper.to_array(t).T), t.name))
                a.i = 0
                n_t += 1
    if n_t:
        steps.append(f"{n_t} Gemm transB folded")
    m = shape_inference.infer_shapes(m, data_prop=True)
    steps.append("shape inference")
    onnx.save(m, out_path)
    return steps


def wonnx_worker(onnx_path, x_path, y_path):
    """--wonnx-worker: load, run once untimed, then answer `W N` lines on stdin."""
    def say(tag, obj):
        sys.stdout.write(f"@@{tag} {json.dumps(obj)}\n")
        sys.stdout.flush()
    try:
        import wonnx
        x = np.load(x_path)
        xl = x.ravel().tolist()
        t = time.perf_counter()
        sess = wonnx.Session.from_path(onnx_path)
        load_ms = (time.perf_counter() - t) * 1e3
        t = time.perf_counter()
        out = sess.run({"input": xl})
        first_ms = (time.perf_counter() - t) * 1e3
        np.save(y_path, np.asarray(out["output"], np.float32))
        say("ready", {"load_ms": load_ms, "first_ms": first_ms})
        for line in sys.stdin:
            w, n = (int(v) for v in line.split())
            for _ in range(w):
                sess.run({"input": xl})
            ts = []
            for _ in range(n):
                t = time.perf_counter()
                sess.run({"input": xl})
                ts.append((time.perf_counter() - t) * 1e3)
            say("times", ts)
    except BaseException as ex:  # pyo3's PanicException is a BaseException
        say("error", " ".join(f"{type(ex).__name__}: {ex}".split()))
        sys.exit(1)


class WonnxTool:
    """A worker process per (model, batch), kept across rounds."""

    def __init__(self, args, prepared, x_path, y_path, err_path):
        env = dict(os.environ, RUST_LOG="wgpu_core::instance=info", RUST_BACKTRACE="0")
        self.err_path = err_path
        self.err = open(err_path, "w")
        self.p = subprocess.Popen([sys.executable, os.path.abspath(__file__), "--wonnx-worker", prepared, x_path,
                                   y_path], stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=self.err, env=env)
        self.buf = b""
        self.timeout = args.timeout
        tag, obj = self._read()
        if tag != "ready":
            why = self._why(obj)
            self.close()
            raise RuntimeError(why)
        self.ready = obj
        self.adapter = None
        with open(err_path, errors="replace") as f:
            for ln in f:
                m = re.search(r"Adapter (\w+) AdapterInfo \{ name: \"([^\"]*)\"", ln)
                if m:
                    self.adapter = f"{m.group(2)} ({m.group(1)})"
                    break

    def _why(self, obj):
        self.err.flush()
        with open(self.err_path, errors="replace") as f:
            err = f.read()
        where = re.search(r"panicked at .*?(\S+\.rs:\d+:\d+)", err, re.S)
        msg = short_err(obj, 400) if obj else short_err(err or "worker exited without a message")
        return msg + (f" (at {where.group(1)})" if where else "")

    def _read(self):
        sel = selectors.DefaultSelector()
        sel.register(self.p.stdout, selectors.EVENT_READ)
        deadline = time.monotonic() + self.timeout
        while True:
            while b"\n" in self.buf:
                line, self.buf = self.buf.split(b"\n", 1)
                line = line.decode(errors="replace")
                if line.startswith("@@"):
                    tag, _, rest = line[2:].partition(" ")
                    return tag, json.loads(rest)
            left = deadline - time.monotonic()
            if left <= 0:
                return "timeout", f"no answer within {self.timeout:.0f}s"
            if not sel.select(timeout=left):
                continue
            chunk = os.read(self.p.stdout.fileno(), 65536)
            if not chunk:
                return "eof", None
            self.buf += chunk

    def round(self, warmup, runs):
        try:
            self.p.stdin.write(f"{warmup} {runs}\n".encode())
            self.p.stdin.flush()
        except BrokenPipeError:
            raise RuntimeError(self._why(None))
        tag, obj = self._read()
        if tag != "times":
            raise RuntimeError(self._why(obj))
        return {"ms": statistics.median(obj), "runs": len(obj), "warmup": warmup}

    def close(self):
        if self.p.poll() is None:
            try:
                self.p.stdin.close()
            except OSError:
                pass
            try:
                self.p.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.p.kill()
                self.p.wait()
        self.err.close()


# ---------------------------------------------------------------- one cell

def run_cell(args, name, batch, results):
    from onnx_crosscheck import export, make
    t_cell = time.perf_counter()
    model, xt, shape = make(name, args.seed, batch)
    base = os.path.join(args.out, f"{name}_b{batch}")
    onnx_path, x_path = base + ".onnx", base + ".x.npy"
    export(model, xt, onnx_path)
    x = xt.numpy()
    np.save(x_path, x)
    del model
    print(f"\n{name} batch {batch}: input {list(shape)}, {os.path.getsize(onnx_path) / 1e6:.1f} MB", flush=True)

    cell = {"model": name, "batch": batch, "shape": list(shape), "tools": {t: {"rounds": []} for t in TOOLS}}
    tools = cell["tools"]
    ys = {}

    def fail(t, msg):
        tools[t]["error"] = msg
        print(f"  {TOOL_NAMES[t]}: {msg}", flush=True)

    # set-up of the in-process and worker tools (untimed)
    ort_tool = tract_tool = wonnx_tool = None
    try:
        ort_tool = OrtTool(onnx_path, x)
        ys["ort"] = ort_tool.y
    except Exception as ex:
        fail("ort", f"{type(ex).__name__}: {short_err(ex)}")
    if "tract" in args.skip:
        fail("tract", "skipped (--skip)")
    elif version("tract") is None:
        fail("tract", "not installed (pip install tract)")
    else:
        try:
            tract_tool = TractTool(onnx_path, x)
            tools["tract"]["api"] = tract_tool.api
            ys["tract"] = tract_tool.y
        except Exception as ex:
            fail("tract", f"{type(ex).__name__}: {short_err(ex)}")
    if "wonnx" in args.skip:
        fail("wonnx", "skipped (--skip)")
    elif version("wonnx") is None:
        fail("wonnx", "not installed (pip install wonnx)")
    else:
        try:
            prepared = base + ".wonnx.onnx"
            tools["wonnx"]["prepared"] = wonnx_prepare(onnx_path, prepared)
            wonnx_tool = WonnxTool(args, prepared, x_path, base + ".wonnx.y.npy", base + ".wonnx.stderr")
            tools["wonnx"].update(load_ms=wonnx_tool.ready["load_ms"], first_ms=wonnx_tool.ready["first_ms"],
                                  adapter=wonnx_tool.adapter)
            ys["wonnx"] = np.load(base + ".wonnx.y.npy")
        except Exception as ex:
            fail("wonnx", short_err(ex))
    for t in ("vk", "gl"):
        if t in args.skip:
            fail(t, "skipped (--skip)")

    # which GPU cells are slow before they start: batch/2 times their batch-1 median
    one_run = set()
    for t in GPU_TOOLS:
        b1 = results.get((name, 1), {}).get("tools", {}).get(t, {}).get("ms")
        if batch > 1 and b1 is not None and b1 * batch / 2 > args.slow_ms:
            one_run.add(t)
            tools[t]["cut"] = f"estimated {b1 * batch / 2 / 1e3:.0f} s a run from batch 1"

    w, r, c = wgsl_reps(batch)
    for rnd in range(args.rounds):
        for t in TOOLS:
            info = tools[t]
            if "error" in info or info.get("done"):
                continue
            try:
                if t in ("vk", "gl"):
                    rw, rr = (0, 1) if t in one_run else (w, r)
                    y_path = f"{base}.{t}.y.npy" if rnd == 0 else None
                    res = wgsl_run(args, onnx_path, x_path, y_path, None if t == "vk" else "gl", rw, rr,
                                   c if t == "vk" else 0)
                    if y_path:
                        ys[t] = np.load(y_path)
                elif t == "ort":
                    res = ort_tool.round()
                elif t == "tract":
                    res = tract_tool.round()
                else:
                    res = wonnx_tool.round(*((0, 1) if t in one_run else (WONNX_WARMUP, WONNX_RUNS)))
            except Exception as ex:
                fail(t, short_err(ex))
                continue
            info["rounds"].append(res)
            extra = f", CPU baseline {res['cpu_ms']:.2f} ms" if res.get("cpu_ms") is not None else ""
            print(f"  round {rnd + 1} {TOOL_NAMES[t]}: {res['ms']:.2f} ms (median of {res['runs']}){extra}",
                  flush=True)
            if t in GPU_TOOLS and (t in one_run or res["ms"] > args.slow_ms) and rnd + 1 < args.rounds:
                info["done"] = True
                info.setdefault("cut", f"{res['ms'] / 1e3:.1f} s a run > --slow-ms")
    if wonnx_tool:
        wonnx_tool.close()

    # medians over rounds
    for t in TOOLS:
        info = tools[t]
        rs = info["rounds"]
        if rs:
            info["ms"] = statistics.median(x["ms"] for x in rs)
            info["n_rounds"], info["n_runs"] = len(rs), rs[0]["runs"]
            for k in ("wall_ms", "cpu_ms", "first_run_ms", "cpu_per_wall"):
                vals = [x[k] for x in rs if x.get(k) is not None]
                if vals:
                    info[k] = statistics.median(vals)
            for k in ("clock", "adapter", "cpu_threads", "passed", "const_bytes", "activation_bytes"):
                if rs[0].get(k) is not None:
                    info[k] = rs[0][k]
    if "ort" in ys:
        for t, y in ys.items():
            if t != "ort":
                tools[t]["rel_l2_vs_ort"] = rel_l2(y, ys["ort"])

    # the cold process of resnet18 batch 1
    if name == "resnet18" and batch == 1 and "vk" not in args.skip:
        walls, firsts = [], []
        for _ in range(3):
            try:
                res = wgsl_run(args, onnx_path, x_path, None, None, 0, 1, 0)
            except Exception as ex:
                cell["cold_error"] = short_err(ex)
                break
            walls.append(res["process_s"])
            firsts.append(res["first_run_ms"])
        if walls:
            cell["cold"] = {"process_s": walls, "first_run_ms": firsts}
            print(f"  wgsl-nn run --repeats 1 --warmup 0 --cpu-repeats 0: process "
                  f"{', '.join(f'{v:.2f}' for v in walls)} s", flush=True)
    cell["cell_s"] = time.perf_counter() - t_cell
    print(f"  ({cell['cell_s']:.0f} s)", flush=True)
    return cell


# ---------------------------------------------------------------- table

def fmt_ms(v):
    if v is None:
        return "-"
    return f"{v:.1f}" if v >= 100 else f"{v:.2f}" if v >= 1 else f"{v:.3f}"


def ratio(a, b):
    return "-" if a is None or b is None or b == 0 else f"{a / b:.3g}"


def table(results, args, host, total_s):
    notes, errs = [], {}

    def cell_of(c, t):
        info = c["tools"][t]
        if info.get("ms") is None:
            msg = info.get("error", "no result")
            if msg == "skipped (--skip)":
                return "skipped"
            key = errs.setdefault(msg, len(errs) + 1)
            return f"failed [{key}]"
        s = fmt_ms(info["ms"])
        default_rounds = args.rounds
        if info["n_rounds"] != default_rounds or info.get("cut"):
            s += f" ({info['n_rounds']}x{info['n_runs']})"
        return s

    head = ["model", "batch", "wgsl-nn lavapipe ms", "wgsl-nn lavapipe wall ms", "wgsl-nn GL ms",
            "wgsl-nn CPU baseline ms", "onnxruntime CPU ms", "tract ms", "wonnx ms", "ORT / wgsl-nn lavapipe",
            "ORT / CPU baseline", "wonnx / wgsl-nn lavapipe"]
    rows = []
    for c in results:
        T = c["tools"]
        vk, ort_ms = T["vk"].get("ms"), T["ort"].get("ms")
        rows.append([c["model"], str(c["batch"]), cell_of(c, "vk"), fmt_ms(T["vk"].get("wall_ms")), cell_of(c, "gl"),
                     fmt_ms(T["vk"].get("cpu_ms")), cell_of(c, "ort"), cell_of(c, "tract"), cell_of(c, "wonnx"),
                     ratio(ort_ms, vk), ratio(ort_ms, T["vk"].get("cpu_ms")), ratio(T["wonnx"].get("ms"), vk)])
    md = ["| " + " | ".join(head) + " |", "|---|---:|" + "|".join("---:" for _ in head[2:]) + "|"]
    md += ["| " + " | ".join(r) + " |" for r in rows]

    agree_head = ["model", "batch"] + [f"{TOOL_NAMES[t]} rel L2 vs ORT" for t in ("vk", "gl", "tract", "wonnx")]
    agree = ["| " + " | ".join(agree_head) + " |", "|---|---:|" + "|".join("---:" for _ in agree_head[2:]) + "|"]
    for c in results:
        vals = [c["tools"][t].get("rel_l2_vs_ort") for t in ("vk", "gl", "tract", "wonnx")]
        agree.append("| " + " | ".join([c["model"], str(c["batch"])] +
                                       ["-" if v is None else f"{v:.1e}" for v in vals]) + " |")

    cut = [f"{c['model']} batch {c['batch']} {TOOL_NAMES[t]}: {info['cut']}"
           for c in results for t, info in c["tools"].items() if info.get("cut")]
    clocks = {}
    for c in results:
        if c["tools"]["vk"].get("clock"):
            clocks.setdefault(c["tools"]["vk"]["clock"], []).append(f"{c['model']} b{c['batch']}")
    vk_adapter = next((c["tools"]["vk"]["adapter"] for c in results if c["tools"]["vk"].get("adapter")), None)
    gl_adapter = next((c["tools"]["gl"]["adapter"] for c in results if c["tools"]["gl"].get("adapter")), None)
    wonnx_adapter = next((c["tools"]["wonnx"]["adapter"] for c in results if c["tools"]["wonnx"].get("adapter")),
                         None)
    threads = next((c["tools"]["vk"]["cpu_threads"] for c in results if c["tools"]["vk"].get("cpu_threads")), None)
    cpw = {t: [c["tools"][t]["cpu_per_wall"] for c in results if c["tools"][t].get("cpu_per_wall")]
           for t in ("ort", "tract")}
    tract_api = next((c["tools"]["tract"]["api"] for c in results if c["tools"]["tract"].get("api")), None)
    wonnx_prep = next((c["tools"]["wonnx"]["prepared"] for c in results if c["tools"]["wonnx"].get("prepared")), None)
    if wonnx_prep:
        wonnx_prep = [re.sub(r"^\d+ Gemm transB folded$", "Gemm weights with transB=1 transposed ahead", p)
                      for p in wonnx_prep]
    w, r, cr = wgsl_reps(1)
    w8, r8, cr8 = wgsl_reps(8)

    def adapter_str(a):
        return "-" if not a else f"{a.get('name')} ({a.get('backend')}, {a.get('driver_info')})"

    out = []
    out.append(f"Host: {host['cpu']}, {host['cores']} cores; Mesa {host['mesa']} (mesa-vulkan-drivers); "
               f"onnxruntime {host['onnxruntime']}, tract {host['tract'] or 'not installed'}, wonnx "
               f"{host['wonnx'] or 'not installed'}, onnxsim {host['onnxsim'] or 'not installed'}, torch "
               f"{host['torch']}, Python {host['python']}.")
    if args.host_note:
        out.append("")
        out.append(args.host_note)
    out.append("")
    out.append(f"Command: `{args.command}` ({total_s / 60:.1f} min in all). {args.rounds} interleaved rounds "
               f"(each round runs every tool once, in the order of the columns); each figure is the median over "
               f"rounds of the per-round medians, in milliseconds per forward pass of the whole model.")
    out.append("")
    out += md
    out.append("")
    out.append("Ratios (from the same run): **ORT / wgsl-nn lavapipe** = onnxruntime ms / wgsl-nn lavapipe ms "
               "(above 1: wgsl-nn on lavapipe is faster than onnxruntime on the CPU); **ORT / CPU baseline** = "
               "onnxruntime ms / wgsl-nn CPU baseline ms (the CPU baseline's speed against onnxruntime: above 1, "
               "the baseline is faster); **wonnx / wgsl-nn lavapipe** = wonnx ms / wgsl-nn lavapipe ms (the two "
               "WGSL-on-wgpu engines on the same adapter: above 1, wgsl-nn is faster).")
    out.append("")
    out.append("Notes:")
    out.append(f"- wgsl-nn lavapipe: `wgsl-nn run M.onnx --input-npy X.npy --check off --json` on the default "
               f"adapter, {adapter_str(vk_adapter)}; --warmup {w} --repeats {r} --cpu-repeats {cr} at batch 1, "
               f"--warmup {w8} --repeats {r8} --cpu-repeats {cr8} above. The ms column is report.median_ms (its "
               f"clock: report.clock, below), the wall column report.median_wall_ms (submit to read-back by the "
               f"host clock). One process per round.")
    out.append(f"- wgsl-nn GL: the same with `--backend gl` ({adapter_str(gl_adapter)}) and --cpu-repeats 0.")
    out.append(f"- wgsl-nn CPU baseline: cpu_baseline.median_ms of the lavapipe process (the project's f32 CPU "
               f"path, {threads or '?'} threads).")
    out.append(f"- onnxruntime: CPUExecutionProvider, intra_op_num_threads=2, inter_op_num_threads=1, default "
               f"graph optimisation; {CPU_WARMUP} warm-up and {CPU_RUNS} timed runs per round"
               + (f" (process CPU time / wall time while timed: median {statistics.median(cpw['ort']):.2f})"
                  if cpw["ort"] else "") + ".")
    if tract_api:
        out.append(f"- tract {host['tract']}: `tract.onnx().{tract_api}`, `model.run([x])`; {CPU_WARMUP} warm-up and "
                   f"{CPU_RUNS} timed runs per round"
                   + (f" (CPU time / wall time: median {statistics.median(cpw['tract']):.2f}, i.e. how many cores "
                      f"it keeps busy)" if cpw["tract"] else "") + ".")
    if wonnx_prep or wonnx_adapter:
        out.append(f"- wonnx {host['wonnx']}: `wonnx.Session.from_path(p)`, `session.run({{'input': x}})` (input as a "
                   f"flat list, converted once; the run includes wonnx's upload and read-back) in a worker process, "
                   f"on {wonnx_adapter or 'its default adapter'}. The model it gets is a prepared copy "
                   f"({', '.join(wonnx_prep or [])}): the same maths, which the raw export cannot be loaded as "
                   f"(wonnx wants every intermediate shape in value_info and has no Gemm transB=1). One untimed "
                   f"first run, then {WONNX_WARMUP} warm-up and {WONNX_RUNS} timed runs per round.")
    out.append(f"- (R x N) after a figure: R rounds of N timed runs instead of {args.rounds} rounds; a GPU cell gets "
               f"no further rounds once a run takes over --slow-ms ({args.slow_ms:.0f} ms), and one run only where "
               f"batch/2 times its batch-1 median says so" + (": " + "; ".join(cut) if cut else "") + ".")
    if clocks:
        out.append("- report.clock of the lavapipe runs: " + "; ".join(
            f"{', '.join(where)}: \"{clock}\"" for clock, where in clocks.items()) + ".")
    for c in results:
        if c.get("cold"):
            first = c["tools"]["vk"].get("first_run_ms")
            cold = c["cold"]
            out.append(f"- resnet18 batch 1: wgsl-nn first_run_ms (upload, lower, compile, run, read back; parsing and folding come before it) "
                       f"{fmt_ms(first)} ms (median over the lavapipe rounds); process wall time of `wgsl-nn run "
                       f"resnet18_b1.onnx --input-npy X.npy --check off --json --repeats 1 --warmup 0 "
                       f"--cpu-repeats 0` (time.perf_counter around the subprocess) "
                       f"{statistics.median(cold['process_s']):.2f} s (median of "
                       f"{', '.join(f'{v:.2f}' for v in cold['process_s'])} s; its first_run_ms "
                       f"{', '.join(fmt_ms(v) for v in cold['first_run_ms'])}). Warm disk caches "
                       f"(scripts/cold_start.sh measures from empty ones).")
        elif c.get("cold_error"):
            out.append(f"- resnet18 batch 1 cold process: failed: {c['cold_error']}")
    if errs:
        out.append("")
        out.append("Failures:")
        for msg, k in errs.items():
            where = [f"{c['model']} b{c['batch']} {TOOL_NAMES[t]}" for c in results for t, i in c["tools"].items()
                     if i.get("ms") is None and i.get("error", "no result") == msg]
            out.append(f"- [{k}] {', '.join(where)}: `{msg}`")
    out.append("")
    out.append("Agreement with onnxruntime's output (rel L2 of each tool's output from the first round):")
    out.append("")
    out += agree
    return "\n".join(out) + "\n"


def save(args, host, results, total_s):
    meta = {"command": args.command, "total_s": total_s, "rounds": args.rounds, "slow_ms": args.slow_ms,
            "host_note": args.host_note}
    with open(os.path.join(args.out, "results.json"), "w") as f:
        json.dump({"host": host, "meta": meta, "cells": list(results.values())}, f, indent=1, default=str)


def heading(host):
    mesa = re.match(r"[\d.]+", host["mesa"] or "")
    return (f"# wgsl-nn beside other ONNX runtimes: {host['cpu']}, {host['cores']} cores, Mesa "
            f"{mesa.group(0) if mesa else host['mesa']}, onnxruntime {host['onnxruntime']}\n\n")


def main():
    if len(sys.argv) == 5 and sys.argv[1] == "--wonnx-worker":
        return wonnx_worker(*sys.argv[2:])
    t_start = time.perf_counter()
    sys.path.insert(0, HERE)
    from onnx_crosscheck import MODELS
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--out", default="/tmp/onnx_peers", help="work dir (models, inputs, outputs, results.json)")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--models", default=",".join(MODELS), help="comma list from " + ",".join(MODELS))
    ap.add_argument("--batches", default="1,8", help="comma list of batch sizes")
    ap.add_argument("--table", help="write the markdown table to this file")
    ap.add_argument("--bin", default=os.path.join(ROOT, "target", "release", "wgsl-nn"))
    ap.add_argument("--seed", type=int, default=5)
    ap.add_argument("--slow-ms", type=float, default=6000.0,
                    help="a GPU cell whose run takes longer gets no further rounds (default 6000)")
    ap.add_argument("--timeout", type=float, default=900.0, help="seconds per wgsl-nn process or wonnx answer")
    ap.add_argument("--skip", default="", help="comma list of tools to leave out: " + ",".join(TOOLS))
    ap.add_argument("--host-note", default="", help="a line about the host for the markdown file")
    ap.add_argument("--retable", metavar="RESULTS.json",
                    help="time nothing: write the table of an earlier run's results.json (to stdout, --table)")
    args = ap.parse_args()
    if args.retable:
        with open(args.retable) as f:
            d = json.load(f)
        meta = d.get("meta", {})
        for k in ("command", "rounds", "slow_ms", "host_note"):
            if k in meta:
                setattr(args, k, meta[k])
        if "command" not in meta:
            args.command = "(not recorded)"
        text = table(d["cells"], args, d["host"], meta.get("total_s", float("nan")))
        print(text)
        if args.table:
            with open(args.table, "w") as f:
                f.write(heading(d["host"]) + text)
            print(f"table written to {args.table}")
        return
    args.command = show_cmd(["python3", "scripts/onnx_peers.py"] + sys.argv[1:])
    args.skip = {s.strip() for s in args.skip.split(",") if s.strip()}
    names = [n.strip() for n in args.models.split(",") if n.strip()]
    for n in names:
        if n not in MODELS:
            raise SystemExit(f"unknown model {n}; choose from {','.join(MODELS)}")
    batches = sorted({int(b) for b in args.batches.split(",") if b.strip()})
    if args.rounds < 1 or not batches or min(batches) < 1:
        raise SystemExit("--rounds and every batch must be at least 1")
    if not (os.path.isfile(args.bin) and os.access(args.bin, os.X_OK)):
        print(f"note: {args.bin} is missing: the wgsl-nn columns will say so (cargo build --release)")
    os.environ["NODEVICE_SELECT"] = "1"
    os.makedirs(args.out, exist_ok=True)
    host = host_info()
    print(f"host: {host}; work dir {args.out}", flush=True)

    results = {}
    for name in names:
        for b in batches:  # batch 1 first: it sizes the bigger batches' slow cells
            try:
                results[(name, b)] = run_cell(args, name, b, results)
            except Exception:
                traceback.print_exc()
                raise
            save(args, host, results, time.perf_counter() - t_start)
    total = time.perf_counter() - t_start
    save(args, host, results, total)
    text = table(list(results.values()), args, host, total)
    print("\n" + text)
    if args.table:
        os.makedirs(os.path.dirname(os.path.abspath(args.table)), exist_ok=True)
        with open(args.table, "w") as f:
            f.write(heading(host) + text)
        print(f"table written to {args.table}")
    print(f"total {total:.0f} s")


if __name__ == "__main__":
    main()
