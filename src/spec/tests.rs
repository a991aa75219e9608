//! The layer language's parser, against examples and fuzzed input.

/// CI runs a short fuzz; WGSL_NN_FUZZ_CASES=N runs N cases per target
/// (millions were run once; see README's reliability section).
fn fuzz_cases(default: u32) -> u32 {
    std::env::var("WGSL_NN_FUZZ_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

use super::*;
use proptest::prelude::*;

fn one(src: &str) -> LayerKind {
    let layers = parse_stack(src).unwrap_or_else(|e| panic!("{src}: {e}"));
    assert_eq!(layers.len(), 1, "{src}");
    layers.into_iter().next().unwrap().kind
}

fn conv(src: &str) -> ConvSpec {
    match one(src) {
        LayerKind::Conv(c) => c,
        k => panic!("{src}: not a conv: {k:?}"),
    }
}

fn pool(src: &str) -> PoolSpec {
    match one(src) {
        LayerKind::Pool(p) => p,
        k => panic!("{src}: not a pool: {k:?}"),
    }
}

fn c(k: [usize; 2], s: [usize; 2], p: Padding) -> ConvSpec {
    let (dilation, out_channels) = ([1, 1], None);
    ConvSpec {
        kernel: k,
        stride: s,
        padding: p,
        dilation,
        out_channels,
        groups: 1,
        bias: true,
        relu: false,
    }
}

#[test]
fn exercise_stack() {
    let l = parse_stack(EXERCISE_STACK).unwrap();
    let want = [
        c([3, 3], [2, 2], Padding::Explicit([0, 0])),
        c([5, 5], [1, 1], Padding::Explicit([2, 2])),
        c([3, 3], [1, 1], Padding::Explicit([1, 1])),
        c([5, 5], [2, 2], Padding::Explicit([0, 0])),
    ];
    assert_eq!(l.len(), 4);
    for (i, (got, want)) in l.iter().zip(want).enumerate() {
        assert_eq!((got.index, &got.kind), (i, &LayerKind::Conv(want)));
    }
    assert_eq!(l[1].text, "conv(kernel_size=5,stride=1,padding=2)");
    assert_eq!(l[1].to_string(), "conv(k=5,s=1,p=2)");
}

#[test]
fn short_forms() {
    assert_eq!(
        conv("conv(k=3,s=2,p=0)"),
        c([3, 3], [2, 2], Padding::Explicit([0, 0]))
    );
    assert_eq!(conv("conv(k=3, out=16)").out_channels, Some(16));
    let m = pool("maxpool(k=2,s=2)");
    assert_eq!(
        (m.kind, m.kernel, m.stride, m.padding),
        (PoolKind::Max, [2, 2], [2, 2], [0, 0])
    );
    let a = pool("avgpool(k=3,s=1,p=1)");
    assert_eq!(
        (a.kind, a.stride, a.padding, a.count_include_pad),
        (PoolKind::Avg, [1, 1], [1, 1], true)
    );
    assert_eq!(one("relu"), LayerKind::Relu);
    assert_eq!(one(" RELU() "), LayerKind::Relu);
    assert_eq!(
        pool("maxpool(k=3)").stride,
        [3, 3],
        "stride defaults to kernel"
    );
}

#[test]
fn separators_aliases_and_text() {
    let l = parse_stack("conv(k=3) -> relu; maxpool(k=2), conv(k=3,out=8)").unwrap();
    let texts: Vec<_> = l.iter().map(|l| l.text.as_str()).collect();
    assert_eq!(
        texts,
        ["conv(k=3)", "relu", "maxpool(k=2)", "conv(k=3,out=8)"]
    );
    let l = parse_stack("CONV2D(Kernel=3, S=1)->Max_Pool(K=2);;AvgPool2d(kernel_size=2)\n relu")
        .unwrap();
    assert_eq!(l.len(), 4);
    assert!(matches!(&l[2].kind, LayerKind::Pool(p) if p.kind == PoolKind::Avg));
}

#[test]
fn values() {
    for s in [
        "conv(k=3x5)",
        "conv(k=(3,5))",
        "conv(k=[3, 5])",
        "conv(k=3X5)",
    ] {
        assert_eq!(conv(s).kernel, [3, 5], "{s}");
    }
    assert_eq!(conv("conv(k=3,p=1x2)").padding, Padding::Explicit([1, 2]));
    assert_eq!(conv("conv(k=3,pad=valid)").padding, Padding::Valid);
    assert_eq!(conv("conv(k=3,padding='same',d=2)").padding, Padding::Same);
    assert_eq!(conv("conv(k=3,d=2)").dilation, [2, 2]);
    assert_eq!(conv("conv(k=3,groups=4)").groups, 4);
    assert_eq!(conv("conv(k=3,g=2,out=8)").groups, 2);
    assert_eq!(conv("conv(k=3)").groups, 1);
    assert_eq!(
        conv("conv(k=3,c=4,bias=no)"),
        ConvSpec {
            out_channels: Some(4),
            bias: false,
            ..conv("conv(k=3)")
        }
    );
    for (s, r) in [
        ("relu=true", true),
        ("relu", true),
        ("act=relu", true),
        ("act=none", false),
        ("relu=0", false),
    ] {
        assert_eq!(conv(&format!("conv(k=3,{s})")).relu, r, "{s}");
    }
    let m = pool("maxpool(k=3,s=2,p=1,d=2,ceil_mode=yes)");
    assert_eq!((m.padding, m.dilation, m.ceil_mode), ([1, 1], [2, 2], true));
    assert!(!pool("avgpool(k=2,count_include_pad=false,p=valid)").count_include_pad);
}

#[test]
fn display() {
    assert_eq!(
        parse_stack("conv(k=3,s=2)").unwrap()[0].to_string(),
        "conv(k=3,s=2,p=0)"
    );
    let s = "conv(k=3x5,s=1,p=same,d=2,out=16,relu)";
    assert_eq!(parse_stack(s).unwrap()[0].to_string(), s);
    assert_eq!(
        parse_stack("max_pool(kernel=2)").unwrap()[0].to_string(),
        "maxpool(k=2,s=2)"
    );
}

/// (source, fragments its message must contain, separated by " | ").
const ERRORS: &[(&str, &str)] = &[
    ("conv(kernal_sise=3)", "unknown parameter 'kernal_sise' in layer 1; did you mean 'kernel_size'?"),
    // The exercise's own typo gets the fix, as the issue asks.
    ("conv(kernal_size=3)", "unknown parameter 'kernal_size' in layer 1; did you mean 'kernel_size'?"),
    ("conv(zzz=3)", "'zzz' | conv accepts: kernel_size/k, stride/s"),
    ("avgpool(k=2,dilatoin=2)", "'dilatoin' | avgpool accepts"),
    ("relu convv(k=3)", "unknown layer 'convv' at layer 2; expected one of conv, maxpool, avgpool, relu; did you mean 'conv'?"),
    ("relu relu conv(k=3", "missing ')' in layer 3 'conv(k=3'"),
    ("conv(k=(3,5)", "missing ')' in layer 1"),
    ("conv(k=3))", "unexpected ')' in layer 1 | separator"),
    ("relu )", "unexpected ')' in layer 2 | layer name"),
    ("(k=3)", "unexpected '(' in layer 1 | layer name"),
    ("conv(k=3)relu", "unexpected 'r' | separator"),
    ("conv(k=3,,s=1)", "empty parameter in layer 1 | ','"),
    ("conv(k=3,)", "empty parameter"),
    ("conv(=3)", "missing parameter name | '=3'"),
    ("conv(k=3,stride=)", "missing value for 'stride' in layer 1"),
    ("conv(k=3,s)", "missing value for 's'"),
    ("conv(k=3,act)", "missing value for 'act'"),
    ("relu conv(k=3,stride=0)", "stride must be at least 1 in layer 2 (got 'stride=0')"),
    ("conv(k=0)", "kernel_size must be at least 1 | 'k=0'"),
    ("conv(k=3,d=1x0)", "dilation must be at least 1 | 'd=1x0'"),
    ("conv(k=3,out=0)", "out_channels must be at least 1"),
    ("conv(kernel_size=abc)", "invalid number 'abc' for 'kernel_size' in layer 1; expected a positive integer or a pair like 3x5"),
    ("conv(k=-1)", "invalid number '-1'"),
    ("conv(k=[3,5)", "invalid number '[3,5'"),
    ("conv(k=3,out=3x5)", "invalid number '3x5' for 'out_channels' | positive integer"),
    ("conv(k=3,p=abc)", "'valid' or 'same'"),
    ("conv(k=99999999999999999999999)", "kernel_size is too large | maximum is 1048576"),
    ("conv(k=3,s=1048577)", "stride is too large | maximum is 1048576"),
    ("conv(k=3,kernel_size=5)", "duplicate parameter kernel_size | 'k=3' | 'kernel_size=5'"),
    ("conv(k=3,relu,act=none)", "duplicate"),
    ("conv(s=2)", "missing kernel_size in layer 1"),
    ("relu maxpool", "missing kernel_size in layer 2 (maxpool)"),
    ("maxpool(k=3,p=same)", "'p=same' | maxpool | explicit padding"),
    ("avgpool(k=3,d=2)", "'d=2' | avgpool | no dilation"),
    ("maxpool(k=3,count_include_pad=true)", "count_include_pad | maxpool"),
    ("maxpool(k=3,bias=false)", "'bias=false' | no weights"),
    ("avgpool(k=3,out=8)", "'out=8' | channel count"),
    ("conv(k=3,ceil_mode=true)", "ceil_mode | only pooling"),
    ("relu(k=3)", "takes no parameters but inplace"),
    ("conv(k=3,s=2,padding='same')", "padding='same' needs stride 1, as in PyTorch; use an explicit padding | 's=2'"),
    ("avgpool(k=3,p=2)", "'p=2' | at most kernel_size/2"),
    ("conv(k=3,bias=maybe)", "invalid value 'maybe' for 'bias' | true/false"),
    ("conv(k=3,act=tanh)", "invalid value 'tanh' for 'act' | relu or none"),
    ("", "the layer stack is empty; example: conv(k=3,s=2) conv(k=5,p=2)"),
    (" , ; -> \n", "the layer stack is empty"),
];

#[test]
fn errors_name_culprit_and_fix() {
    for (src, want) in ERRORS {
        let msg = match parse_stack(src) {
            Ok(l) => panic!("{src}: expected an error, got {l:?}"),
            Err(e) => e.to_string(),
        };
        for w in want.split(" | ") {
            assert!(msg.contains(w), "{src}: message {msg:?} lacks {w:?}");
        }
    }
    assert!(parse_stack("conv(k=1048576)").is_ok());
}

/// Grammar fragments, '|'-separated, for the token-soup fuzz test.
const TOKENS: &str = "conv|maxpool|avgpool|relu|k|s|p|d|out|kernel_size|kernal_size|stride|\
    padding|dilation|bias|act|ceil_mode|count_include_pad|groups|g|bn|batchnorm|eps|affine|momentum|\
    num_features|1e-5|sigmoid|gelu|approximate|tanh|leaky_relu|negative_slope|inplace|same|valid|true|=|(|)|[|]|,|;|->|-|>|\
    x|X| |\n|0|1|3|'|99999999999999999999999|1048577|é|\u{0}";

fn pair(max: usize) -> impl Strategy<Value = [usize; 2]> {
    prop_oneof![(1..=max).prop_map(|n| [n, n]), [1..=max, 1..=max]]
}

fn layer_kind() -> impl Strategy<Value = LayerKind> {
    let pad = prop_oneof![
        [0..=3usize, 0..=3].prop_map(Padding::Explicit),
        Just(Padding::Valid),
        Just(Padding::Same)
    ];
    let conv = (
        pair(7),
        pair(3),
        pad,
        pair(3),
        proptest::option::of(1..=64usize),
        (any::<bool>(), any::<bool>(), 1..=4usize),
    )
        .prop_map(
            |(kernel, stride, padding, dilation, out_channels, (bias, relu, groups))| {
                let stride = if padding == Padding::Same {
                    [1, 1]
                } else {
                    stride
                };
                LayerKind::Conv(ConvSpec {
                    kernel,
                    stride,
                    padding,
                    dilation,
                    out_channels,
                    groups,
                    bias,
                    relu,
                })
            },
        );
    let pool = (
        any::<bool>(),
        pair(6),
        pair(4),
        [0..=3usize, 0..=3],
        pair(3),
        any::<bool>(),
        any::<bool>(),
    )
        .prop_map(|(max, kernel, stride, pad, dil, ceil_mode, cip)| {
            let padding = [pad[0].min(kernel[0] / 2), pad[1].min(kernel[1] / 2)];
            let kind = if max { PoolKind::Max } else { PoolKind::Avg };
            let (dilation, count_include_pad) = if max { (dil, true) } else { ([1, 1], cip) };
            LayerKind::Pool(PoolSpec {
                kind,
                kernel,
                stride,
                padding,
                dilation,
                ceil_mode,
                count_include_pad,
            })
        });
    let bn = (
        proptest::sample::select(vec![1e-5, 1e-3, 0.1, 2.5e-7]),
        any::<bool>(),
        proptest::option::of(1..=64usize),
    )
        .prop_map(|(eps, affine, num_features)| {
            LayerKind::BatchNorm(BatchNormSpec {
                eps,
                affine,
                num_features,
            })
        });
    let act = prop_oneof![
        Just(Pointwise::Sigmoid),
        Just(Pointwise::Tanh),
        Just(Pointwise::Silu),
        any::<bool>().prop_map(|tanh| Pointwise::Gelu { tanh }),
        proptest::sample::select(vec![0.01, 0.2, -0.5, 1e-7])
            .prop_map(|slope| Pointwise::LeakyRelu { slope }),
    ]
    .prop_map(LayerKind::Act);
    prop_oneof![conv, pool, Just(LayerKind::Relu), bn, act]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(fuzz_cases(1000)))]

    #[test]
    fn never_panics_on_any_string(s in any::<String>()) {
        let _ = parse_stack(&s);
    }

    #[test]
    fn never_panics_on_token_soup(t in proptest::collection::vec(
        proptest::sample::select(TOKENS.split('|').collect::<Vec<_>>()), 0..40)) {
        if let Err(e) = parse_stack(&t.concat()) {
            let _ = e.to_string();
        }
    }

    #[test]
    fn display_round_trips(kinds in proptest::collection::vec(layer_kind(), 1..6), sep in "[ ,;]|->| -> ") {
        let src = kinds.iter().map(ToString::to_string).collect::<Vec<_>>().join(&sep);
        let parsed = parse_stack(&src).map_err(|e| TestCaseError::fail(format!("{src}: {e}")))?;
        let got: Vec<_> = parsed.iter().map(|l| l.kind.clone()).collect();
        prop_assert_eq!(got, kinds);
        for l in &parsed {
            prop_assert_eq!(&l.text, &l.to_string());
        }
    }
}
