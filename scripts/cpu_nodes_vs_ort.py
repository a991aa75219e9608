#!/usr/bin/env python3
"""The CPU baseline's per-node times beside onnxruntime's (its profile,
`SessionOptions.enable_profiling`), matched by node name prefix, for a
torchvision-style conv net, with sums by conv kind (1x1, depthwise, other).
Needs onnx and onnxruntime (a venv; not CI).

    NODEVICE_SELECT=1 wgsl-nn run /tmp/peers/mobilenet_v2_b1.onnx \
        --input-npy /tmp/peers/mobilenet_v2_b1.x.npy --check off \
        --repeats 1 --warmup 0 --cpu-repeats 30 --json > ours.json
    python scripts/cpu_nodes_vs_ort.py /tmp/peers/mobilenet_v2_b1 ours.json

MODEL is a path prefix (MODEL.onnx, MODEL.x.npy), as scripts/onnx_peers.py
leaves them. onnxruntime runs on 2 threads, 30 profiled runs.
"""
import json, sys, re, collections
import onnxruntime as ort, numpy as np, onnx
m=sys.argv[1]; ours=json.load(open(sys.argv[2]))
def key(s):
    s=s.split(' + ')[0]
    mm=re.match(r'(/.*?/(conv\.\d+|features\.\d+\.\d+|classifier\.\d+|[^/]*$))',s)
    return mm.group(1) if mm else s
so=ort.SessionOptions(); so.intra_op_num_threads=2; so.inter_op_num_threads=1; so.enable_profiling=True
s=ort.InferenceSession(m+".onnx", so, providers=["CPUExecutionProvider"])
x=np.load(m+".x.npy"); R=30
for _ in range(R): s.run(None,{s.get_inputs()[0].name:x})
ev=json.load(open(s.end_profiling()))
ortk=collections.defaultdict(float)
for e in ev:
    if e.get("cat")=="Node" and e["name"].endswith("_kernel_time"):
        ortk[key(e["name"][:-12])]+=e["dur"]/R/1000
c=ours['cpu_baseline']; nodes=ours['report']['nodes']
ok=collections.defaultdict(float); desc={}
for ms,n in zip(c['node_ms'],nodes):
    k=key(n['name']); ok[k]+=ms; desc[k]=(n.get('kind',''),n.get('shape',''),n.get('flops',0))
rows=sorted(ok.items(),key=lambda kv:-kv[1])
tot=[0,0]
for k,v in rows:
    o=ortk.get(k,0); tot[0]+=v; tot[1]+=o
    if v>0.04: print('%-45s %6.3f %6.3f %5.2f %s'%(k[-45:],v,o,v/max(o,1e-9),desc[k]))
print('sum ours %.3f ort %.3f; ort unmatched'%tuple(tot), {k:round(v,3) for k,v in ortk.items() if k not in ok})
g=onnx.load(m+".onnx").graph
kind={}
for n in g.node:
    if n.op_type=="Conv":
        a={x.name:onnx.helper.get_attribute_value(x) for x in n.attribute}
        kind[key(n.name)]="dw" if a.get("group",1)>1 else ("1x1" if list(a["kernel_shape"])==[1,1] else "kxk s%d"%a.get('strides',[1])[0])
cat=collections.defaultdict(lambda:[0,0])
for k,v in ok.items():
    c=kind.get(k,'other'); cat[c][0]+=v; cat[c][1]+=ortk.get(k,0)
for k,v in ortk.items():
    if k not in ok: cat['ort-extra'][1]+=v
for c,(a,b) in sorted(cat.items()): print('%-10s ours %.3f ort %.3f'%(c,a,b))
