#!/usr/bin/env python3
"""Regenerate every file in tests/data/onnx/ (the small ONNX models that
`wgsl-nn run MODEL.onnx` is tested on) and tests/data/onnx/hostile/.

For each model NAME it writes:
  NAME.onnx          float32, opset 17, TorchScript exporter (dynamo=False),
                     constant folding on (except batchnorm_raw), random
                     weights, every BatchNorm with random running statistics
                     and affine parameters, model.eval();
                     one input named `input`, one output named `output`
  NAME.input.npy     the input (float32 standard normal; int64 for token ids)
  NAME.torch64.npy   float64 output of a float64 copy of the model on the
                     same input (ints stay int64)
  NAME.ort.npy       onnxruntime CPUExecutionProvider float32 output
and manifest.json: [{name, input_shape, input_dtype, output_shape, ops,
ort_rel_l2, description}]. hostile/ holds malformed or unsupported models
(see hostile/README.md).

Needs torch, torchvision, onnx, onnxruntime, numpy (not part of CI).
Run from anywhere: python3 tests/data/onnx/make_onnx_fixtures.py
"""
import copy
import json
import os
import warnings

import numpy as np
import onnx
import onnxruntime as ort
import torch
import torch.nn as nn
import torch.nn.functional as F
import torchvision
from onnx import TensorProto, helper
from torchvision.models.mobilenetv2 import InvertedResidual
from torchvision.models.resnet import BasicBlock
from torchvision.models.vision_transformer import VisionTransformer

SEED = 20240917
HERE = os.path.dirname(os.path.abspath(__file__))
HOSTILE = os.path.join(HERE, "hostile")
OPSET = 17

warnings.filterwarnings("ignore")


def randomise_bn(model, gen):
    """Random running statistics and affine parameters for every BatchNorm,
    so that folding them into the previous conv matters."""
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, nn.modules.batchnorm._BatchNorm):
                c = m.num_features
                m.running_mean.copy_(torch.randn(c, generator=gen) * 0.5)
                m.running_var.copy_(torch.rand(c, generator=gen) * 1.5 + 0.5)
                if m.affine:
                    m.weight.copy_(torch.rand(c, generator=gen) + 0.5)
                    m.bias.copy_(torch.randn(c, generator=gen) * 0.3)
                m.num_batches_tracked.fill_(100)


def randomise_constant_params(model, gen):
    """Give every parameter that PyTorch initialises to one repeated value
    (LayerNorm weight 1 and bias 0, MHA in/out projection biases 0, the ViT
    class token and head 0) random values around it, so that a runner that
    swaps scale and bias, drops a bias or reads the wrong head is caught.
    TransformerEncoder deep-copies its layer, so every layer after the first
    is re-initialised first (otherwise the layers share identical weights)."""
    with torch.no_grad():
        for mod in model.modules():
            if isinstance(mod, nn.TransformerEncoder):
                for layer in list(mod.layers)[1:]:
                    for sub in layer.modules():
                        if isinstance(sub, nn.MultiheadAttention):
                            sub._reset_parameters()
                        elif hasattr(sub, "reset_parameters") and sub is not layer:
                            sub.reset_parameters()
        for name, p in model.named_parameters():
            if p.numel() > 1 and bool((p == p.flatten()[0]).all()):
                v = float(p.flatten()[0])
                p.copy_(v + (0.2 if v != 0.0 else 0.3) * torch.randn(p.shape, generator=gen))


# ---------------------------------------------------------------- models


class ResNetTiny(nn.Module):
    """conv3x3 stem 3->8, BN, ReLU, MaxPool(3,2,1), BasicBlock(8,8),
    BasicBlock(8,16,stride 2, 1x1 conv + BN downsample), global average
    pool, Flatten, Linear(16,10): torchvision's ResNet at width 8."""

    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(3, 8, 3, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(8)
        self.relu = nn.ReLU(inplace=True)
        self.maxpool = nn.MaxPool2d(3, 2, 1)
        self.layer1 = BasicBlock(8, 8)
        down = nn.Sequential(nn.Conv2d(8, 16, 1, stride=2, bias=False), nn.BatchNorm2d(16))
        self.layer2 = BasicBlock(8, 16, stride=2, downsample=down)
        self.avgpool = nn.AdaptiveAvgPool2d(1)
        self.flatten = nn.Flatten()
        self.fc = nn.Linear(16, 10)

    def forward(self, x):
        x = self.maxpool(self.relu(self.bn1(self.conv1(x))))
        x = self.layer2(self.layer1(x))
        return self.fc(self.flatten(self.avgpool(x)))


class MobileNetTiny(nn.Module):
    """torchvision MobileNetV2 pieces: stem Conv 3->8 stride 2 + BN + ReLU6,
    InvertedResidual(8,8,1,expand 1) (depthwise + project; it has a
    residual add), InvertedResidual(8,12,2,expand 4), InvertedResidual(12,12,
    1,expand 4) (residual add), 1x1 conv 12->16 + BN + ReLU6, average pool,
    Dropout (eval), Linear(16,10)."""

    def __init__(self):
        super().__init__()
        from torchvision.ops.misc import Conv2dNormActivation

        self.features = nn.Sequential(
            Conv2dNormActivation(3, 8, stride=2, norm_layer=nn.BatchNorm2d, activation_layer=nn.ReLU6),
            InvertedResidual(8, 8, 1, 1),
            InvertedResidual(8, 12, 2, 4),
            InvertedResidual(12, 12, 1, 4),
            Conv2dNormActivation(12, 16, kernel_size=1, norm_layer=nn.BatchNorm2d, activation_layer=nn.ReLU6),
        )
        self.classifier = nn.Sequential(nn.Dropout(0.2), nn.Linear(16, 10))

    def forward(self, x):
        x = self.features(x)
        x = F.adaptive_avg_pool2d(x, (1, 1))
        x = torch.flatten(x, 1)
        return self.classifier(x)


class Conv1dNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.c1 = nn.Conv1d(4, 6, 3, padding=1)
        self.c2 = nn.Conv1d(6, 6, 3, stride=2, groups=3, dilation=2, padding=2)
        with torch.no_grad():  # default init leaves the sigmoid at 0.5 +- 0.06; spread it
            self.c2.weight.mul_(4.0)

    def forward(self, x):
        return torch.sigmoid(self.c2(torch.relu(self.c1(x))))


class ConvTransposeNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.ct = nn.ConvTranspose2d(4, 3, 3, stride=2, padding=1, output_padding=1)

    def forward(self, x):
        return torch.tanh(self.ct(x))


class PoolPad(nn.Module):
    def forward(self, x):
        x = F.avg_pool2d(x, 3, 2, padding=1, count_include_pad=False)
        x = F.pad(x, (1, 2, 0, 1), mode="constant", value=0.25)
        return F.max_pool2d(x, 2, ceil_mode=True)


class Elementwise(nn.Module):
    """Unary ops and broadcasting against parameters of shape [C,1,1] and [W]."""

    def __init__(self, c=3, w=5):
        super().__init__()
        self.pc = nn.Parameter(torch.randn(c, 1, 1))
        self.pw = nn.Parameter(torch.randn(w))
        self.leaky = nn.LeakyReLU(0.1)

    def forward(self, x):
        a = F.hardsigmoid(x) * self.pc  # HardSigmoid, Mul [C,1,1]
        b = F.hardswish(x) + self.pw  # HardSwish, Add [W]
        c = x**2 - 0.5  # Pow, Sub
        d = x / (torch.abs(x) + 1.0)  # Abs, Add, Div
        e = torch.erf(x) * torch.sqrt(torch.abs(x) + 1.0)  # Erf, Sqrt
        f = self.leaky(x - self.pw)  # LeakyRelu, Sub [W]
        g = torch.fmod(x * 3.0, self.pc.abs() + 0.5)  # Mod fmod=1 (C fmod: sign of the dividend)
        return a + b * c - d + e / (self.pc * self.pc + 1.0) + f + g


class ReduceSplit(nn.Module):
    def forward(self, x):  # x [2,6,5]
        a, b = torch.split(x, [2, 4], dim=1)  # Split
        am = a.mean(dim=-1, keepdim=True)  # ReduceMean -> [2,2,1]
        bs = b.sum(dim=1, keepdim=True)  # ReduceSum -> [2,1,5]
        t = (am + bs).transpose(1, 2)  # [2,5,2] Transpose
        s = bs.squeeze(1).unsqueeze(-1)  # Squeeze, Unsqueeze -> [2,5,1]
        u = torch.cat([t, s, b.mean(dim=(1, 2), keepdim=False)[:, None, None].expand(2, 5, 1)], dim=2)  # Concat
        return u  # [2,5,4]


class EmbeddingCausal(nn.Module):
    def __init__(self, vocab=20, d=16, t=7):
        super().__init__()
        self.emb = nn.Embedding(vocab, d)
        self.pos = nn.Parameter(torch.randn(t, d) * 0.5)
        self.attn = nn.MultiheadAttention(d, 2, batch_first=True)
        self.register_buffer("mask", nn.Transformer.generate_square_subsequent_mask(t))
        self.norm = nn.LayerNorm(d)
        self.head = nn.Linear(d, vocab)

    def forward(self, ids):
        x = self.emb(ids) + self.pos
        y, _ = self.attn(x, x, x, attn_mask=self.mask, need_weights=False)
        return self.head(self.norm(x + y))


class SoftmaxAxes(nn.Module):
    def __init__(self):
        super().__init__()
        self.w = nn.Parameter(torch.randn(4, 6))

    def forward(self, x):  # [2,5,3,4]
        x = torch.softmax(x, dim=1)
        x = torch.matmul(x, self.w)  # [2,5,3,6] MatMul broadcasting a 2-D weight
        return torch.softmax(x, dim=-1)


class BatchNormRaw(nn.Module):
    """Exported with do_constant_folding=False, so no BN is folded into the
    Conv before it: four standalone BatchNormalization nodes (on the input,
    after the Conv, after the ReLU, and BatchNorm1d(affine=False) on [N,C,L]
    after a reshape, whose scale and bias are Constant nodes)."""

    def __init__(self):
        super().__init__()
        self.bn0 = nn.BatchNorm2d(3)
        self.conv = nn.Conv2d(3, 6, 3, padding=1)
        self.bn1 = nn.BatchNorm2d(6)
        self.bn2 = nn.BatchNorm2d(6, eps=1e-3)
        self.bn3 = nn.BatchNorm1d(6, affine=False)

    def forward(self, x):  # [2,3,8,8]
        x = self.bn2(torch.relu(self.bn1(self.conv(self.bn0(x)))))
        n, c, h, w = x.shape
        return self.bn3(x.reshape(n, c, h * w))


class ShapeOps(nn.Module):
    """Strided Slice, Gather on a constant index, Reshape with -1, Greater +
    Where, and two parameters with equal values: the exporter deduplicates
    equal initializers, keeping one and making the other an Identity node
    (how Identity shows up in real exports). x [2,6,5]."""

    def __init__(self):
        super().__init__()
        s = torch.linspace(0.5, 1.5, 6)
        self.scale_a = nn.Parameter(s.clone())
        self.scale_b = nn.Parameter(s.clone())

    def forward(self, x):
        n = x.shape[0]
        y = x[:, 1:5:2, ::2]  # Slice with steps -> [2,2,3]
        idx = torch.tensor([2, 0, 1])
        z = x.index_select(2, idx)  # Gather along axis 2 -> [2,6,3]
        z = z.reshape(n, -1, 3)[:, :2]  # Reshape, Slice
        m = torch.where(z > 0.0, z, y)  # Greater, Where
        m = m.reshape(n, -1)  # [2,6]
        return m * self.scale_a + x[:, :, 0] * self.scale_b  # Identity (deduplicated initializer)


class Model:
    def __init__(self, name, module, x, description, fold=True, dynamic=None):
        self.name, self.module, self.x, self.description = name, module, x, description
        self.fold, self.dynamic = fold, dynamic


def models(gen):
    def randn(*shape):
        return torch.randn(*shape, generator=gen)

    out = []

    m = ResNetTiny()
    out.append(Model("resnet_tiny", m, randn(2, 3, 32, 32),
                     "ResNet at width 8/16: conv3x3 stem 3->8 + BN + ReLU, MaxPool(3,2,1), torchvision BasicBlock(8,8), "
                     "BasicBlock(8,16,stride 2, downsample 1x1 conv + BN), AdaptiveAvgPool2d(1), Flatten, Linear(16,10)"))
    m = MobileNetTiny()
    out.append(Model("mobilenet_tiny", m, randn(2, 3, 32, 32),
                     "MobileNetV2 pieces: stem conv 3->8 s2 + BN + ReLU6, torchvision InvertedResidual(8,8,1,t=1) (residual), "
                     "(8,12,2,t=4), (12,12,1,t=4) (residual), 1x1 conv 12->16 + BN + ReLU6, avgpool, Dropout(eval), Linear(16,10)"))
    m = nn.TransformerEncoder(nn.TransformerEncoderLayer(16, 2, 32, batch_first=True, dropout=0.0), 2,
                              enable_nested_tensor=False)
    out.append(Model("transformer_tiny", m, randn(2, 8, 16),
                     "nn.TransformerEncoder(TransformerEncoderLayer(d_model=16, nhead=2, dim_feedforward=32, batch_first, "
                     "dropout=0, ReLU, post-norm), 2 layers) on [2,8,16]"))
    m = VisionTransformer(image_size=16, patch_size=8, num_layers=1, num_heads=2, hidden_dim=16, mlp_dim=32, num_classes=10)
    out.append(Model("vit_tiny", m, randn(2, 3, 16, 16),
                     "torchvision VisionTransformer(image_size=16, patch_size=8, num_layers=1, num_heads=2, hidden_dim=16, "
                     "mlp_dim=32, num_classes=10): patch conv, class token, pos embedding, pre-norm MHA + GELU MLP, head on token 0"))
    out.append(Model("conv1d", Conv1dNet(), randn(2, 4, 20),
                     "Conv1d(4,6,3,padding=1) -> ReLU -> Conv1d(6,6,3,stride=2,groups=3,dilation=2,padding=2) -> Sigmoid"))
    out.append(Model("conv_transpose", ConvTransposeNet(), randn(2, 4, 6, 6),
                     "ConvTranspose2d(4,3,3,stride=2,padding=1,output_padding=1) -> Tanh"))
    out.append(Model("pool_pad", PoolPad(), randn(2, 3, 11, 11),
                     "AvgPool2d(3,2,padding=1,count_include_pad=False) -> F.pad(x,(1,2,0,1),value=0.25) (constant) -> "
                     "MaxPool2d(2, ceil_mode=True)"))
    out.append(Model("elementwise", Elementwise(), randn(2, 3, 4, 5),
                     "Hardsigmoid, Hardswish, x**2, x-0.5, x/(|x|+1), erf, sqrt(|x|+1), LeakyReLU(0.1), fmod (Mod fmod=1) "
                     "combined, broadcasting against parameters of shape [3,1,1] and [5]"))
    out.append(Model("reduce_split", ReduceSplit(), randn(2, 6, 5),
                     "split [2,4] on dim 1, mean over the last axis, sum over dim 1, transpose, squeeze/unsqueeze, "
                     "mean over (1,2), concat on the last axis -> [2,5,4]"))
    ids = torch.randint(0, 20, (2, 7), generator=gen)
    out.append(Model("embedding_causal", EmbeddingCausal(), ids,
                     "int64 ids [2,7] in 0..19 -> Embedding(20,16) + learned positions [7,16] -> MultiheadAttention(16,2,"
                     "batch_first) with the causal float mask generate_square_subsequent_mask(7) (-inf above the diagonal) "
                     "-> residual -> LayerNorm -> Linear(16,20)"))
    out.append(Model("softmax_axes", SoftmaxAxes(), randn(2, 5, 3, 4),
                     "softmax over dim 1 of [2,5,3,4], MatMul with a [4,6] parameter (broadcast), softmax over the last axis"))
    out.append(Model("batchnorm_raw", BatchNormRaw(), randn(2, 3, 8, 8),
                     "exported with do_constant_folding=False (4 standalone BatchNormalization nodes): BN2d on the input, "
                     "Conv(3,6,3,pad 1), BN2d, ReLU, BN2d(eps=1e-3), reshape to [2,6,64], BatchNorm1d(affine=False)", fold=False))
    out.append(Model("shape_ops", ShapeOps(), randn(2, 6, 5),
                     "strided Slice x[:,1:5:2,::2], index_select (Gather) on axis 2, Reshape with -1, Slice, "
                     "where(z>0, z, y) -> Reshape [2,6], * a + x[:,:,0] * b where the [6] parameters a and b are equal "
                     "(exported as one initializer and an Identity node)"))
    return out


# ---------------------------------------------------------------- helpers


def rel_l2(a, b):
    a = np.asarray(a, np.float64)
    b = np.asarray(b, np.float64)
    return float(np.linalg.norm(a - b) / max(np.linalg.norm(b), 1e-300))


def export(m, path):
    model = m.module
    model.eval()
    torch.onnx.export(model, (m.x,), path, dynamo=False, opset_version=OPSET, do_constant_folding=m.fold,
                      input_names=["input"], output_names=["output"], dynamic_axes=m.dynamic)


def torch64(module, x):
    m64 = copy.deepcopy(module).double().eval()
    x64 = x.double() if x.is_floating_point() else x
    with torch.no_grad():
        return m64(x64).numpy()


def run_ort(path, x):
    sess = ort.InferenceSession(path, providers=["CPUExecutionProvider"])
    return sess.run(["output"], {"input": x})[0]


def op_types(path):
    g = onnx.load(path).graph
    return sorted({n.op_type for n in g.node})


# ---------------------------------------------------------------- hostile files


def tiny_valid_model():
    x = helper.make_tensor_value_info("input", TensorProto.FLOAT, [2, 3])
    y = helper.make_tensor_value_info("output", TensorProto.FLOAT, [2, 3])
    w = helper.make_tensor("w", TensorProto.FLOAT, [3], [1.0, 2.0, 3.0])
    n1 = helper.make_node("Mul", ["input", "w"], ["t"])
    n2 = helper.make_node("Relu", ["t"], ["output"])
    g = helper.make_graph([n1, n2], "tiny", [x], [y], [w])
    return helper.make_model(g, opset_imports=[helper.make_opsetid("", OPSET)], producer_name="wgsl-nn-hostile")


def make_model(nodes, inputs, outputs, inits=(), name="hostile", opsets=None):
    g = helper.make_graph(nodes, name, inputs, outputs, list(inits))
    return helper.make_model(g, opset_imports=opsets or [helper.make_opsetid("", OPSET)], producer_name="wgsl-nn-hostile")


def write_hostile():
    os.makedirs(HOSTILE, exist_ok=True)
    F32 = TensorProto.FLOAT
    vi = helper.make_tensor_value_info
    files = {}  # name -> (bytes, description)

    valid = tiny_valid_model().SerializeToString()
    files["truncated.onnx"] = (valid[: len(valid) // 2],
                               f"the first {len(valid) // 2} of {len(valid)} bytes of a valid Mul+Relu model: protobuf decode "
                               "error (truncated message / unexpected end of input)")

    files["wrong_magic.onnx"] = (b"\x89PNG\r\n\x1a\n" + b"\x00\x00\x00\rIHDR" + bytes((i * 37 + 11) % 256 for i in range(96)),
                                 "a PNG signature and IHDR chunk header followed by 96 junk bytes: not an ONNX protobuf, "
                                 "a parse error (no panic)")

    big = TensorProto()
    big.name, big.data_type = "w", F32
    big.dims.extend([1000000, 1000000])
    big.raw_data = bytes(16)
    m = make_model([helper.make_node("Add", ["input", "w"], ["output"])],
                   [vi("input", F32, [2, 3])], [vi("output", F32, [2, 3])], [big])
    files["huge_initializer.onnx"] = (m.SerializeToString(),
                                      "initializer `w` claims dims [1000000, 1000000] float (4e12 bytes) but holds 16 bytes "
                                      "of raw_data: refused as a size mismatch before allocating anything")

    m = make_model([helper.make_node("Add", ["input", "b"], ["a"], name="add_a"),
                    helper.make_node("Add", ["input", "a"], ["b"], name="add_b"),
                    helper.make_node("Relu", ["a"], ["output"])],
                   [vi("input", F32, [2, 3])], [vi("output", F32, [2, 3])])
    files["cycle.onnx"] = (m.SerializeToString(),
                           "two Add nodes (add_a reads b, add_b reads a) feeding each other: refused as a cycle / "
                           "not topologically sortable")

    m = make_model([helper.make_node("Add", ["input", "ghost"], ["output"])],
                   [vi("input", F32, [2, 3])], [vi("output", F32, [2, 3])])
    files["missing_input.onnx"] = (m.SerializeToString(),
                                   "an Add reads tensor `ghost` that no node, input or initializer produces: refused "
                                   "naming `ghost`")

    m = make_model([helper.make_node("Foo", ["input"], ["output"], domain="com.example")],
                   [vi("input", F32, [2, 3])], [vi("output", F32, [2, 3])],
                   opsets=[helper.make_opsetid("", OPSET), helper.make_opsetid("com.example", 1)])
    files["unknown_domain.onnx"] = (m.SerializeToString(),
                                    "a node of op `Foo` in domain `com.example`: refused as an unsupported domain/op, "
                                    "naming both")

    shape = helper.make_tensor("shape", TensorProto.INT64, [3], [100000, 100000, 100000])
    m = make_model([helper.make_node("Reshape", ["input", "shape"], ["output"])],
                   [vi("input", F32, [2, 3])], [vi("output", F32, [100000, 100000, 100000])], [shape])
    files["huge_reshape.onnx"] = (m.SerializeToString(),
                                  "Reshape of a [2,3] input (6 elements) to the constant shape [100000,100000,100000] "
                                  "(1e15 elements): refused as an element-count mismatch, no allocation (and no overflow)")

    m = make_model([helper.make_node("Einsum", ["input", "input"], ["output"], equation="ij,ij->i")],
                   [vi("input", F32, [2, 3])], [vi("output", F32, [2])])
    files["unsupported_op.onnx"] = (m.SerializeToString(),
                                    "a valid Einsum node (equation ij,ij->i) of the standard domain: refused as an "
                                    "unsupported op, naming Einsum")

    wconv = helper.make_tensor("w", F32, [2, 1, 3, 3], [0.1 * i for i in range(18)])
    m = make_model([helper.make_node("Conv", ["input", "w"], ["output"], auto_pad="VALID", pads=[1, 1, 1, 1],
                                     kernel_shape=[3, 3])],
                   [vi("input", F32, [1, 1, 5, 5])], [vi("output", F32, ["n", "c", "h", "w"])], [wconv])
    files["bad_attribute.onnx"] = (m.SerializeToString(),
                                   "a Conv with auto_pad=\"VALID\" and explicit pads [1,1,1,1] (the spec forbids both): "
                                   "refused as a bad attribute combination")

    m = make_model([helper.make_node("MaxPool", ["input"], ["output"], kernel_shape=[2, 2], strides=[2, 2],
                                     storage_order=1)],
                   [vi("input", F32, [1, 1, 4, 4])], [vi("output", F32, [1, 1, 2, 2])])
    files["bad_storage_order.onnx"] = (m.SerializeToString(),
                                       "a MaxPool with storage_order=1 (column-major indices; only matters for the "
                                       "Indices output, which is absent): refused as an unsupported attribute value, "
                                       "or accepted and run as storage_order 0 if the runner documents that")

    verdicts = {}
    for name, (data, _) in files.items():
        with open(os.path.join(HOSTILE, name), "wb") as f:
            f.write(data)
        try:
            onnx.checker.check_model(onnx.load_from_string(data), full_check=True)
            chk = "onnx.checker passes it"
        except Exception as e:  # noqa: BLE001
            chk = "onnx.checker fails it"
            print(f"  hostile/{name}: checker: {str(e).splitlines()[0][:110]}")
        try:
            so = ort.SessionOptions()
            so.log_severity_level = 4
            ort.InferenceSession(data, so, providers=["CPUExecutionProvider"])
            ok = "onnxruntime loads it"
        except Exception as e:  # noqa: BLE001
            ok = "onnxruntime refuses to load it"
            print(f"  hostile/{name}: onnxruntime: {str(e).splitlines()[0][:110]}")
        verdicts[name] = f"{chk}; {ok}"
        print(f"  hostile/{name:24s} {len(data):5d} B  {verdicts[name]}")

    with open(os.path.join(HOSTILE, "README.md"), "w") as f:
        f.write("# Hostile ONNX files\n\n")
        f.write("Written by `../make_onnx_fixtures.py`. `wgsl-nn run` must refuse each with an error (exit status "
                "non-zero, a message naming the problem), never panic, hang or allocate what the file claims.\n\n")
        for name, (data, desc) in files.items():
            f.write(f"- `{name}` ({len(data)} bytes): {desc}. ({verdicts[name]}.)\n")


# ---------------------------------------------------------------- main

COVER = ["Add", "Conv", "Flatten", "Gemm", "GlobalAveragePool", "Identity", "MaxPool", "Relu", "Clip", "Constant", "Cast",
         "Concat", "Div", "Gather", "LayerNormalization", "MatMul", "Mod", "Mul", "Reshape", "Shape", "Slice", "Softmax",
         "Sqrt", "Squeeze", "Transpose", "Unsqueeze", "ConstantOfShape", "Equal", "Erf", "Expand", "Where",
         "ConvTranspose", "BatchNormalization", "AveragePool", "Sigmoid", "HardSigmoid", "HardSwish", "Pow", "Sub",
         "ReduceMean", "ReduceSum", "Pad", "Split"]


def main():
    torch.manual_seed(SEED)
    np.random.seed(SEED)
    gen = torch.Generator().manual_seed(SEED)
    print(f"seeds: torch.manual_seed({SEED}), np.random.seed({SEED}), torch.Generator().manual_seed({SEED})")
    print(f"torch {torch.__version__}, torchvision {torchvision.__version__}, onnx {onnx.__version__}, "
          f"onnxruntime {ort.__version__}")
    manifest = []
    for m in models(gen):
        randomise_bn(m.module, gen)
        randomise_constant_params(m.module, gen)
        m.module.eval()
        base = os.path.join(HERE, m.name)
        export(m, base + ".onnx")
        onnx.checker.check_model(onnx.load(base + ".onnx"), full_check=True)
        xnp = m.x.numpy()
        xnp = xnp.astype(np.float32) if m.x.is_floating_point() else xnp.astype(np.int64)
        y64 = torch64(m.module, m.x).astype(np.float64)
        yort = run_ort(base + ".onnx", xnp).astype(np.float32)
        np.save(base + ".input.npy", xnp)
        np.save(base + ".torch64.npy", y64)
        np.save(base + ".ort.npy", yort)
        ops = op_types(base + ".onnx")
        assert yort.shape == y64.shape, (m.name, yort.shape, y64.shape)
        e = rel_l2(yort, y64)
        assert e < 1e-4, (m.name, e)
        if m.name == "elementwise":  # fmod jumps by the divisor: keep x*3 well away from its multiples
            d = np.abs(m.module.pc.detach().numpy().astype(np.float64)) + 0.5
            q = xnp.astype(np.float64) * 3.0 / d
            margin = float((np.abs(q - np.round(q)) * d).min())
            print(f"  elementwise: fmod inputs stay {margin:.4f} away from a jump")
            assert margin > 1e-3
        manifest.append({"name": m.name, "input_shape": list(xnp.shape), "input_dtype": str(xnp.dtype),
                         "output_shape": list(y64.shape), "ops": ops, "ort_rel_l2": e, "description": m.description})
        print(f"{m.name:18s} in {str(list(xnp.shape)):16s} {str(xnp.dtype):8s} out {str(list(y64.shape)):14s} "
              f"ort_rel_l2 {e:.3e}  ops {' '.join(ops)}")
    with open(os.path.join(HERE, "manifest.json"), "w") as f:
        json.dump(manifest, f, indent=1)
        f.write("\n")

    print("\nop coverage (the list in the brief):")
    missing = []
    for op in COVER:
        who = [e["name"] for e in manifest if op in e["ops"]]
        if not who:
            missing.append(op)
        print(f"  {op:20s} {', '.join(who) if who else '-- NONE --'}")
    extra = sorted({op for e in manifest for op in e["ops"]} - set(COVER))
    print("ops exported beyond that list:", ", ".join(f"{op} ({', '.join(e['name'] for e in manifest if op in e['ops'])})"
                                                        for op in extra) or "none")
    print("ops from the list no model exports:", ", ".join(missing) or "none")

    print("\nhostile files:")
    write_hostile()

    print("\nfile sizes:")
    total = 0
    for root, _, names in sorted(os.walk(HERE)):
        for n in sorted(names):
            p = os.path.join(root, n)
            s = os.path.getsize(p)
            total += s
            print(f"  {os.path.relpath(p, HERE):36s} {s:8d}")
    print(f"  total {total} bytes ({total / 1024:.1f} KiB)")
    assert total < 2 * 1024 * 1024


if __name__ == "__main__":
    main()
