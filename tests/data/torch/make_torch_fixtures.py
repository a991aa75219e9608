"""PyTorch fixtures for tests/torch_fixtures.rs.

Run from anywhere with a Python that has torch and numpy:

    python tests/data/torch/make_torch_fixtures.py

It writes tests/data/torch/torch_ops.npz (next to this script). Every input
and parameter is drawn in float32 and saved as float32; PyTorch's output is
computed in float64 from exactly those float32 values, so the crate's f64
CPU reference must agree with it to ~1e-12 and the GPU to f32 accuracy.

Layout of the npz (one flat namespace; names are `<case>__<field>`):
  <case>__cfg            float32 vector of small integers: the op's config
  <case>__<input>        float32 inputs and parameters, in the crate's layout
  <case>__<out>_hi/_lo   the float64 result split into two float32 arrays,
                         hi = f32(y), lo = f32(y - hi): wgsl-nn's npz reader
                         converts every dtype to f32, and hi + lo carries y
                         to ~2^-48 relative. Non-finite y: hi = y, lo = 0.
Case names start with the op: ct (conv_transpose2d), gru/rnn, lstm, ln
(layer_norm), sm (softmax), sdpa, mha, pool, lin (linear).
"""

import os

import numpy as np
import torch
import torch.nn.functional as F

SEED = 20250611
print(f"seed: {SEED}")
torch.manual_seed(SEED)
rng = np.random.default_rng(SEED)
torch.set_grad_enabled(False)

HERE = os.path.dirname(os.path.abspath(__file__))
OUT = {}


def f32(a):
    if isinstance(a, torch.Tensor):
        a = a.detach().cpu().numpy()
    return np.ascontiguousarray(np.asarray(a, dtype=np.float32))


def t64(a):
    """A float32 array as a float64 tensor (exact)."""
    return torch.from_numpy(np.asarray(a, dtype=np.float32).astype(np.float64))


def uni(*shape, scale=1.0):
    return f32(rng.uniform(-1.0, 1.0, size=shape) * scale)


def put(case, **fields):
    for k, v in fields.items():
        key = f"{case}__{k}"
        assert key not in OUT, key
        OUT[key] = f32(v)


def put64(case, name, y):
    y = y.detach().cpu().numpy().astype(np.float64) if isinstance(y, torch.Tensor) else np.asarray(y, np.float64)
    hi = y.astype(np.float32)
    fin = np.isfinite(y)
    lo = np.where(fin, y - np.where(fin, hi.astype(np.float64), 0.0), 0.0).astype(np.float32)
    OUT[f"{case}__{name}_hi"] = np.ascontiguousarray(hi)
    OUT[f"{case}__{name}_lo"] = np.ascontiguousarray(lo)


# --------------------------------------------------------------------------
# conv_transpose2d: weight [Cin, Cout, kH, kW] (PyTorch's own layout).
# cfg = cin, cout, kh, kw, sh, sw, ph, pw, oph, opw, dh, dw, bias
ct_cases = [
    # x shape,      cin cout  k       s       p       op      d       bias
    ((2, 3, 5, 7), 3, 5, (3, 3), (2, 2), (1, 1), (1, 1), (1, 1), True),
    ((1, 2, 7, 6), 2, 3, (2, 5), (3, 1), (0, 2), (2, 0), (1, 2), False),
    ((3, 4, 4, 5), 4, 2, (3, 2), (2, 3), (2, 1), (1, 2), (2, 1), True),
    # output_padding allowed by dilation alone (op < max(stride, dilation))
    ((1, 3, 5, 5), 3, 4, (3, 3), (1, 1), (2, 2), (2, 1), (3, 2), True),
    ((2, 5, 6, 6), 5, 7, (4, 4), (2, 2), (1, 1), (0, 0), (1, 1), True),
    ((1, 1, 13, 1), 1, 2, (1, 1), (2, 1), (0, 0), (1, 0), (1, 1), False),
]
for i, (xs, cin, cout, k, s, p, op, d, bias) in enumerate(ct_cases):
    case = f"ct{i}"
    x = uni(*xs)
    m = torch.nn.ConvTranspose2d(cin, cout, k, s, p, op, groups=1, bias=bias, dilation=d)
    w = f32(m.weight)
    b = f32(m.bias) if bias else f32(np.zeros(cout))
    y = F.conv_transpose2d(t64(x), t64(w), t64(b) if bias else None, s, p, op, 1, d)
    put(case, cfg=[cin, cout, *k, *s, *p, *op, *d, int(bias)], x=x, w=w, b=b)
    put64(case, "y", y)

# --------------------------------------------------------------------------
# GRU and Elman RNN (nn.GRU / nn.RNN(tanh), one layer, batch_first). The crate
# stores W_ih [I, G*H] = weight_ih_l0.T, W_hh [H, G*H] = weight_hh_l0.T.
# cfg = kind (0 Elman, 1 GRU), input, hidden, has_h0
rnn_cases = [
    # kind, I,  H,  B, T,  h0
    ("gru", 5, 7, 3, 13, True),
    ("gru", 13, 11, 2, 7, False),
    ("gru", 1, 3, 2, 29, True),
    ("rnn", 7, 5, 2, 11, True),
    ("rnn", 3, 13, 1, 5, False),
]
for i, (kind, I, H, B, T, has_h0) in enumerate(rnn_cases):
    case = f"{kind}{i}"
    mod = (torch.nn.GRU if kind == "gru" else torch.nn.RNN)(I, H, num_layers=1, batch_first=True)
    x = uni(B, T, I, scale=2.0)
    h0 = uni(B, H)
    w_ih, w_hh = f32(mod.weight_ih_l0), f32(mod.weight_hh_l0)
    b_ih, b_hh = f32(mod.bias_ih_l0), f32(mod.bias_hh_l0)
    mod = mod.double()
    mod.weight_ih_l0.copy_(t64(w_ih))
    mod.weight_hh_l0.copy_(t64(w_hh))
    mod.bias_ih_l0.copy_(t64(b_ih))
    mod.bias_hh_l0.copy_(t64(b_hh))
    y, _ = mod(t64(x), t64(h0).unsqueeze(0) if has_h0 else None)
    put(
        case,
        cfg=[int(kind == "gru"), I, H, int(has_h0)],
        x=x,
        w_ih=w_ih.T,
        w_hh=w_hh.T,
        b_ih=b_ih,
        b_hh=b_hh,
        h0=h0 if has_h0 else np.zeros(1),
    )
    put64(case, "y", y)

# --------------------------------------------------------------------------
# layer_norm over the last axis. The crate's eps is the f32 constant 1e-5
# (src/ops/layernorm.rs EPS), which is also what PyTorch's float32 kernel
# adds; the f64 reference here uses that same value, f32(1e-5) as a double.
EPS = float(np.float32(1e-5))
ln_cases = [
    ("random", (3, 5, 13)),
    ("offset", (7, 67)),  # mean 10, spread 1: the two-pass variance
    ("d1", (4, 1)),  # variance 0: y = beta
    ("flat", (5, 7)),  # variance ~3e-7 < eps: eps inside the sqrt matters
]
for i, (kind, shape) in enumerate(ln_cases):
    case = f"ln{i}"
    d = shape[-1]
    x = uni(*shape)
    if kind == "offset":
        x = f32(x + 10.0)
    if kind == "flat":
        x = f32(x * 1e-3)
    g = f32(1.0 + uni(d) * 0.5)
    b = uni(d)
    y = F.layer_norm(t64(x), (d,), t64(g), t64(b), eps=EPS)
    put(case, cfg=[d], x=x, gamma=g, beta=b)
    put64(case, "y", y)

# --------------------------------------------------------------------------
# softmax over the last axis of scores [B, H, L, S] with the crate's masks:
# causal hides key j > i (top-left aligned, as PyTorch's is_causal), the key
# mask [B, S] hides keys where it is 0. PyTorch's reference is
# softmax(scores.masked_fill(hidden, -inf)). A row with nothing left is NaN
# in PyTorch and zeros in the crate (documented in src/ops/softmax.rs); the
# test checks those rows separately.
# cfg = causal, has_key_mask
sm_cases = [
    # shape,         causal, mask
    ((2, 3, 7, 13), False, None),
    ((2, 2, 7, 7), True, None),
    ((3, 2, 5, 13), False, "one_batch_empty"),
    ((2, 3, 5, 11), True, "random"),
    ((1, 1, 3, 67), False, None),
]
for i, (shape, causal, mask_kind) in enumerate(sm_cases):
    case = f"sm{i}"
    B, H, L, S = shape
    x = uni(*shape, scale=8.0)
    if i == 0:
        # scattered -inf logits, one huge logit, and a row of only -inf
        x[0, 0, 1, [2, 5, 11]] = -np.inf
        x[1, 2, 3, 4] = 80.0
        x[1, 1, 6, :] = -np.inf
    if i == 4:
        x = f32(x * 10.0)  # logits spanning +-80
    keep = np.ones((B, 1, L, S), dtype=bool)
    if causal:
        keep &= np.tril(np.ones((L, S), dtype=bool))[None, None]
    mask = np.ones((B, S), dtype=np.float32)
    if mask_kind == "one_batch_empty":
        mask = (rng.uniform(size=(B, S)) < 0.6).astype(np.float32)
        mask[1, :] = 0.0
        mask[0, 0] = 1.0
    elif mask_kind == "random":
        mask = (rng.uniform(size=(B, S)) < 0.6).astype(np.float32)
        mask[:, 0] = 1.0  # row 0 under causal keeps key 0
    if mask_kind is not None:
        keep &= (mask != 0)[:, None, None, :]
    s = t64(x).masked_fill(~torch.from_numpy(keep), float("-inf"))
    y = torch.softmax(s, dim=-1)
    put(case, cfg=[int(causal), int(mask_kind is not None)], x=x, key_mask=mask)
    put64(case, "y", y)

# --------------------------------------------------------------------------
# scaled_dot_product_attention on already-projected Q [B, L, H*d],
# K, V [B, S, H*d] (heads side by side in the last axis).
# The crate scales by 1/f32(sqrt(d)) (src/ops/attention.rs,
# src/cpu/attention.rs); PyTorch by 1/sqrt(d) in double. They differ by one
# f32 rounding unless sqrt(d) is exact, so the fixture carries both: `y`
# with PyTorch's default scale (the GPU is held to it) and `y_cs` with
# scale = 1/f32(sqrt(d)) passed to PyTorch (the f64 reference is held to it).
# cfg = B, L, S, heads, d, causal, has_key_mask
sdpa_cases = [
    # B, L,  S, H, d, causal, mask
    (2, 7, 7, 3, 4, False, False),
    (2, 7, 13, 2, 5, True, False),  # cross, L < S, is_causal top-left
    (3, 5, 11, 4, 9, False, True),
    (2, 13, 13, 2, 16, True, True),
    (1, 13, 5, 1, 7, True, False),  # L > S: rows i >= S see every key
]
for i, (B, L, S, H, d, causal, has_mask) in enumerate(sdpa_cases):
    case = f"sdpa{i}"
    W = H * d
    q, k, v = uni(B, L, W, scale=1.5), uni(B, S, W, scale=1.5), uni(B, S, W)
    mask = np.ones((B, S), dtype=np.float32)
    if has_mask:
        mask = (rng.uniform(size=(B, S)) < 0.6).astype(np.float32)
        mask[:, 0] = 1.0
    heads = lambda a, n: t64(a).view(B, n, H, d).transpose(1, 2)
    qh, kh, vh = heads(q, L), heads(k, S), heads(v, S)

    def attend(scale):
        if has_mask:
            keep = torch.from_numpy(mask != 0)[:, None, None, :].expand(B, 1, L, S)
            if causal:
                keep = keep & torch.ones(L, S, dtype=torch.bool).tril()
            o = F.scaled_dot_product_attention(qh, kh, vh, attn_mask=keep, scale=scale)
        else:
            o = F.scaled_dot_product_attention(qh, kh, vh, is_causal=causal, scale=scale)
        return o.transpose(1, 2).reshape(B, L, W)

    put(case, cfg=[B, L, S, H, d, int(causal), int(has_mask)], q=q, k=k, v=v, key_mask=mask)
    put64(case, "y", attend(None))
    put64(case, "y_cs", attend(1.0 / float(np.sqrt(np.float32(d), dtype=np.float32))))

# --------------------------------------------------------------------------
# nn.MultiheadAttention (batch_first, bias, no dropout), self or cross.
# The crate keeps each projection input-major: Wq = in_proj_weight[:D].T etc.,
# Wo = out_proj.weight.T. PyTorch's key_padding_mask is True where hidden
# (the crate's mask is 0 there); attn_mask True = not allowed = causal's
# upper triangle. Head sizes are perfect squares so both scales agree.
# cfg = B, L, S, D, heads, causal, has_key_mask, cross
mha_cases = [
    # B, L,  S, D, H, causal, mask, cross
    (2, 7, 7, 12, 3, False, False, False),
    (2, 13, 13, 8, 2, True, True, False),
    (3, 5, 11, 18, 2, False, True, True),
    (2, 7, 5, 16, 4, True, False, True),
]
for i, (B, L, S, D, H, causal, has_mask, cross) in enumerate(mha_cases):
    case = f"mha{i}"
    m = torch.nn.MultiheadAttention(D, H, dropout=0.0, bias=True, batch_first=True)
    # in_proj_bias and out_proj.bias start at zero: give them values.
    m.in_proj_bias.copy_(torch.from_numpy(uni(3 * D, scale=0.5)))
    m.out_proj.bias.copy_(torch.from_numpy(uni(D, scale=0.5)))
    xq = uni(B, L, D)
    xkv = uni(B, S, D) if cross else xq
    mask = np.ones((B, S), dtype=np.float32)
    if has_mask:
        mask = (rng.uniform(size=(B, S)) < 0.6).astype(np.float32)
        mask[:, 0] = 1.0
    wi, bi = f32(m.in_proj_weight), f32(m.in_proj_bias)
    wo, bo = f32(m.out_proj.weight), f32(m.out_proj.bias)
    m = m.double()
    m.in_proj_weight.copy_(t64(wi))
    m.in_proj_bias.copy_(t64(bi))
    m.out_proj.weight.copy_(t64(wo))
    m.out_proj.bias.copy_(t64(bo))
    # train(): keeps PyTorch off its fused inference fast path (dropout is 0).
    m.train()
    y, _ = m(
        t64(xq),
        t64(xkv),
        t64(xkv),
        key_padding_mask=torch.from_numpy(mask == 0) if has_mask else None,
        need_weights=False,
        attn_mask=torch.ones(L, S, dtype=torch.bool).triu(1) if causal else None,
    )
    put(
        case,
        cfg=[B, L, S, D, H, int(causal), int(has_mask), int(cross)],
        xq=xq,
        xkv=xkv,
        key_mask=mask,
        wq=wi[:D].T,
        wk=wi[D : 2 * D].T,
        wv=wi[2 * D :].T,
        bq=bi[:D],
        bk=bi[D : 2 * D],
        bv=bi[2 * D :],
        wo=wo.T,
        bo=bo,
    )
    put64(case, "y", y)

# --------------------------------------------------------------------------
# max_pool2d / avg_pool2d (symmetric padding, as PyTorch).
# cfg = kind (0 max, 1 avg), kh, kw, sh, sw, ph, pw, dh, dw, ceil, include_pad
pool_cases = [
    # x shape,      kind,  k       s       p       d       ceil   incl
    ((2, 3, 7, 13), "max", (3, 3), (2, 2), (1, 1), (1, 1), False, True),
    ((1, 2, 13, 7), "max", (3, 2), (2, 2), (1, 1), (2, 1), True, True),
    # ceil: the last window would start in the trailing padding, dropped;
    # one NaN input must come out NaN.
    ((1, 3, 7, 7), "max", (2, 2), (2, 2), (1, 1), (1, 1), True, True),
    ((2, 2, 7, 13), "avg", (3, 3), (2, 2), (1, 1), (1, 1), True, True),
    ((2, 2, 7, 13), "avg", (3, 3), (2, 2), (1, 1), (1, 1), True, False),
    ((1, 3, 13, 7), "avg", (2, 3), (3, 2), (1, 1), (1, 1), False, False),
    # ceil with no padding: the last window hangs off the input and its
    # divisor counts only the part inside (PyTorch's min(start+k, H+pad))
    ((1, 1, 8, 8), "avg", (3, 3), (2, 2), (0, 0), (1, 1), True, True),
    ((1, 2, 5, 11), "max", (3, 3), (3, 3), (1, 1), (1, 2), True, True),
]
for i, (xs, kind, k, s, p, d, ceil, incl) in enumerate(pool_cases):
    case = f"pool{i}"
    x = uni(*xs)
    if i == 2:
        x[0, 1, 3, 4] = np.nan
    if kind == "max":
        y = F.max_pool2d(t64(x), k, s, p, d, ceil_mode=ceil)
    else:
        y = F.avg_pool2d(t64(x), k, s, p, ceil_mode=ceil, count_include_pad=incl)
    put(case, cfg=[int(kind == "avg"), *k, *s, *p, *d, int(ceil), int(incl)], x=x)
    put64(case, "y", y)

# --------------------------------------------------------------------------
# linear: y = act(x W + b), W [K, N] input-major (= nn.Linear.weight.T).
# The crate's GELU is the tanh form: F.gelu(approximate="tanh").
# cfg = K, N, bias, act (0 none, 1 relu, 2 gelu-tanh)
lin_cases = [
    ((2, 7, 13), 11, True, 0),
    ((1, 5, 7), 13, False, 1),
    ((3, 3, 17), 9, True, 2),
]
for i, (xs, N, bias, act) in enumerate(lin_cases):
    case = f"lin{i}"
    K = xs[-1]
    m = torch.nn.Linear(K, N, bias=bias)
    x = uni(*xs, scale=2.0)
    w = f32(m.weight)
    b = f32(m.bias) if bias else f32(np.zeros(N))
    y = F.linear(t64(x), t64(w), t64(b) if bias else None)
    if act == 1:
        y = F.relu(y)
    elif act == 2:
        y = F.gelu(y, approximate="tanh")
    put(case, cfg=[K, N, int(bias), act], x=x, w=w.T, b=b)
    put64(case, "y", y)

# --------------------------------------------------------------------------
# LSTM (nn.LSTM, one layer, batch_first; gates i, f, g, o). Last, so the
# cases above keep their random numbers. cfg = input, hidden, has_h0, has_c0.
# Outputs y [B, T, H] and c_n [B, H].
lstm_cases = [
    # I,  H,  B, T,  h0,    c0
    (5, 7, 3, 13, True, True),
    (13, 11, 2, 7, False, False),
    (1, 3, 2, 29, True, False),
    (4, 17, 1, 5, False, True),
]
for i, (I, H, B, T, has_h0, has_c0) in enumerate(lstm_cases):
    case = f"lstm{i}"
    mod = torch.nn.LSTM(I, H, num_layers=1, batch_first=True)
    x = uni(B, T, I, scale=2.0)
    h0, c0 = uni(B, H), uni(B, H, scale=2.0)
    w_ih, w_hh = f32(mod.weight_ih_l0), f32(mod.weight_hh_l0)
    b_ih, b_hh = f32(mod.bias_ih_l0), f32(mod.bias_hh_l0)
    mod = mod.double()
    mod.weight_ih_l0.copy_(t64(w_ih))
    mod.weight_hh_l0.copy_(t64(w_hh))
    mod.bias_ih_l0.copy_(t64(b_ih))
    mod.bias_hh_l0.copy_(t64(b_hh))
    zeros = torch.zeros(1, B, H, dtype=torch.float64)
    state = None
    if has_h0 or has_c0:
        state = (
            t64(h0).unsqueeze(0) if has_h0 else zeros,
            t64(c0).unsqueeze(0) if has_c0 else zeros,
        )
    y, (_, c_n) = mod(t64(x), state)
    put(case, cfg=[I, H, int(has_h0), int(has_c0)], x=x, w_ih=w_ih.T, w_hh=w_hh.T, b_ih=b_ih, b_hh=b_hh, h0=h0, c0=c0)
    put64(case, "y", y)
    put64(case, "c", c_n[0])

path = os.path.join(HERE, "torch_ops.npz")
np.savez_compressed(path, **OUT)
print(f"wrote {path}: {len(OUT)} arrays, {os.path.getsize(path)} bytes, torch {torch.__version__}")
