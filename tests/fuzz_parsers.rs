//! Fuzz harness for every parser a user feeds a file or string to: .npy,
//! .npz, state_dicts read from .npz, the layer language and `--input`
//! shapes. Each case must end in `Ok` or `Err`, never a panic; within 2 s;
//! and without any single allocation above max(64 MiB, 16 x input + 1 MiB).
//! A counting global allocator records each thread's largest allocation; a
//! watchdog thread aborts the process, saving the input, on a true hang.
//!
//! Inputs: random bytes, and the committed fixtures (tests/data, the valid
//! stacks of src/spec/tests.rs) mutated by bit flips, byte writes,
//! truncation, insertions, duplicated chunks, hostile tokens (huge shape
//! tuples, dtypes, zip signatures, repeated up to 30000 times) and hostile
//! integers (0xFFFFFFFF, ...) written into zip records. The zip readers
//! also get freshly built archives of (mutated) members with correct CRCs,
//! so that mutations reach past the checksum into .npy and the loaders.
//!
//! `FUZZ_CASES=N` runs N cases per parser (default 2000, a few seconds);
//! `FUZZ_TARGETS=npy,spec` runs only those; scripts/fuzz.sh runs a million.
//! To add a parser, add one line to [`TARGETS`].

use proptest::prelude::*;
use proptest::sample::select;
use proptest::test_runner::{Config, TestCaseError, TestRunner};
use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering::SeqCst};
use std::sync::Mutex;
use std::time::{Duration, Instant};
use wgsl_nn::app::io::npy::{npy_bytes, parse_npy, parse_npz, Array};
use wgsl_nn::app::io::{attention::AttentionFiles, state_dict::StateDict};
use wgsl_nn::models::conv_stack::{parse_input_shape, ConvStack};
use wgsl_nn::models::rnn_stack::RnnStack;
use wgsl_nn::spec::{parse_stack, LayerSpec};

/// `Err` is a parse error, which is fine; a panic or a broken limit fails.
type Outcome = Result<(), String>;

/// One parser under test: its name (for `FUZZ_TARGETS`), its seeds,
/// whether it reads zip archives (then rebuilt archives are generated
/// too), and the call from bytes to [`Outcome`].
struct Target(
    &'static str,
    fn() -> Vec<Vec<u8>>,
    bool,
    fn(&[u8]) -> Outcome,
);

/// The extension point: one line per parser.
const TARGETS: &[Target] = &[
    Target("npy", || data_files("npy"), false, npy),
    Target("npz", || data_files("npz"), true, npz),
    Target("state_dict", || data_files("npz"), true, state_dict),
    Target("spec", spec_seeds, false, spec),
    Target("input_shape", shape_seeds, false, input_shape),
    Target("onnx", || data_files("onnx"), false, onnx),
];

/// Formats the error too: a message must not panic either.
fn outcome<T, E: std::fmt::Display>(r: Result<T, E>) -> Outcome {
    r.map(drop).map_err(|e| e.to_string())
}

/// What `Ok` promises: data matching the shape, which `npy_bytes` writes
/// and `parse_npy` reads back bit for bit.
fn check_array(a: &Array) {
    assert_eq!(
        a.data.len(),
        a.shape.iter().product::<usize>(),
        "{:?}",
        a.shape
    );
    let back = parse_npy(&npy_bytes(&a.shape, &a.data), "again").expect("re-read");
    let bits = |a: &Array| a.data.iter().map(|v| v.to_bits()).collect::<Vec<_>>();
    assert_eq!((&back.shape, bits(&back)), (&a.shape, bits(a)));
}

fn npy(b: &[u8]) -> Outcome {
    check_array(&parse_npy(b, "fuzz.npy").map_err(|e| e.to_string())?);
    Ok(())
}

fn npz(b: &[u8]) -> Outcome {
    let map = parse_npz(b, "fuzz.npz").map_err(|e| e.to_string())?;
    map.values().for_each(check_array);
    Ok(())
}

/// Every loader that takes a user's state_dict: the generic reader, the
/// conv stacks of the committed fixtures, RNNs and attention. Their errors
/// are expected; `Ok` means the archive parsed.
fn state_dict(b: &[u8]) -> Outcome {
    let map = parse_npz(b, "fuzz.npz").map_err(|e| e.to_string())?;
    let sd = StateDict::new(&map, "fuzz.npz");
    for k in map.keys() {
        let _ = (
            outcome(sd.get(k)),
            outcome(sd.get(k.rsplit('.').next().unwrap())),
        );
    }
    let _ = (sd.keys(), outcome(sd.finish("the fuzz")));
    for (layers, shape) in [
        ("conv(k=3,out=2) relu conv(k=5,out=1)", [1, 1, 12, 12]),
        (
            "conv(k=3,p=1,out=2) relu maxpool(k=2) conv(k=3,s=2,out=3)",
            [1, 1, 12, 10],
        ),
        (
            "conv(k=3,p=1,out=6,bias=false) bn relu conv(k=3,g=6) bn(affine=0)",
            [2, 3, 9, 8],
        ),
    ] {
        let mut stack = ConvStack::new(&parse_stack(layers).unwrap(), shape).unwrap();
        let _ = outcome(stack.load_params(&map, "fuzz.npz"));
    }
    let _ = outcome(RnnStack::from_state_dict(&map, "fuzz.npz", None));
    // The attention loader reads a path: hand it the bytes in a file.
    let name = format!(
        "fuzz-{}-{:?}.npz",
        std::process::id(),
        std::thread::current().id()
    );
    let path = Path::new(env!("CARGO_TARGET_TMPDIR")).join(name);
    std::fs::write(&path, b).unwrap();
    let files = AttentionFiles {
        params: Some(path.clone()),
        ..Default::default()
    };
    let _ = outcome(files.load());
    let _ = std::fs::remove_file(&path);
    Ok(())
}

/// A stack that parses re-parses from its canonical form to the same layers.
/// An ONNX model, parsed and, when it parses, built into a program with its
/// declared dims (named ones as 1) when they are small: folding and
/// shape arithmetic on hostile shapes must refuse, never panic or allocate.
fn onnx(b: &[u8]) -> Outcome {
    let m = wgsl_nn::app::io::onnx::parse_model(b, "fuzz.onnx").map_err(|e| e.to_string())?;
    let shapes = m.declared_shapes(|_| 1);
    // Inputs the caller would have to supply by the million are a caller's
    // choice, not the file's: parse-only then.
    let small = shapes.values().all(|d| {
        d.iter()
            .try_fold(1usize, |a, &x| a.checked_mul(x))
            .is_some_and(|n| n <= 1 << 20)
    });
    if !small {
        return Ok(());
    }
    outcome(wgsl_nn::graph::build(&m, &shapes))
}

fn spec(b: &[u8]) -> Outcome {
    let layers = parse_stack(&String::from_utf8_lossy(b)).map_err(|e| e.to_string())?;
    let canon: Vec<String> = layers.iter().map(ToString::to_string).collect();
    let again = parse_stack(&canon.join(" ")).unwrap_or_else(|e| panic!("{canon:?}: {e}"));
    let kinds = |l: &[LayerSpec]| l.iter().map(|l| l.kind.clone()).collect::<Vec<_>>();
    assert_eq!(kinds(&again), kinds(&layers), "canonical {canon:?}");
    Ok(())
}

fn shape_seeds() -> Vec<Vec<u8>> {
    vec![b"3x224x224".into(), b"16, 1, 128, 128".into()]
}

fn input_shape(b: &[u8]) -> Outcome {
    outcome(parse_input_shape(&String::from_utf8_lossy(b)))
}

/// The files of tests/data and its subfolders ending in `.{ext}`.
fn data_files(ext: &str) -> Vec<Vec<u8>> {
    let (mut dirs, mut files) = (
        vec![Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data")],
        vec![],
    );
    while let Some(d) = dirs.pop() {
        for p in std::fs::read_dir(d).unwrap().map(|e| e.unwrap().path()) {
            match p.is_dir() {
                true => dirs.push(p),
                false if p.extension().is_some_and(|e| e == ext) => files.push(p),
                false => {}
            }
        }
    }
    files.sort();
    files.iter().map(|p| std::fs::read(p).unwrap()).collect()
}

/// Every string literal of the layer language's own tests that parses.
fn spec_seeds() -> Vec<Vec<u8>> {
    let lits = include_str!("../src/spec/tests.rs")
        .split('"')
        .skip(1)
        .step_by(2);
    let valid = lits
        .chain([wgsl_nn::spec::EXERCISE_STACK])
        .filter(|s| parse_stack(s).is_ok());
    valid.map(|s| s.as_bytes().to_vec()).collect()
}

// ---- Mutations ----

/// '`'-separated texts whose occurrences anchor a mutation; the first,
/// "", means anywhere.
const ANCHORS: &[u8] = b"`PK`'shape': (`'descr': `_order': `NUMPY`(`=`,";
/// '`'-separated tokens spliced in: what hostile or damaged inputs hold.
const TOKENS: &[u8] = b"(999999999999, 99999999)`(18446744073709551615,)`(268435457,)`\
    (0, 999999999999)`(16384, 16384, 4)`()`1, `0, `'<f8'`'>i8'`'|b1'`'<f2'`'<c8'`[('a', '<f4')]`\
    [[[[`True`False`L`'`\"`{`}`(`)`\x00`\xc3\xa9`\xff\xfe`\x93NUMPY\x01\x00`\
    \x93NUMPY\x02\x00\xff\xff\xff\xff`PK\x03\x04`PK\x01\x02`PK\x05\x06`PK\x06\x06`PK\x06\x07`\
    99999999999999999999999`1048577`1048576`=`,`->` `x`k=(3,5)`p=same`s=0`1e-5`nan`inf`-1`\
    conv(k=3)`maxpool(k=2,p=1)`bn(eps=0.1)`gelu(approximate=tanh)";
/// Written over zip sizes, offsets and counts, or anywhere.
const WORDS: &[u64] = &[0, 1, 255, 65535, 1 << 31, !0 >> 32, 1 << 32, 1 << 63, !0];

fn nth(list: &'static [u8], i: usize) -> &'static [u8] {
    list.split(|&c| c == b'`').nth(i).unwrap()
}

fn count(list: &[u8]) -> usize {
    list.split(|&c| c == b'`').count()
}

/// A place in the input: anchor `.0`'s occurrence number `.1` (modulo
/// their count), plus `.2` bytes; any byte (`.1` modulo the length) when
/// the anchor is "" or absent.
#[derive(Debug, Clone, Copy)]
struct Pos(usize, usize, usize);

#[derive(Debug, Clone)]
enum Edit {
    Flip(Pos, u8),
    Set(Pos, u8),
    Truncate(Pos),
    Insert(Pos, Vec<u8>),
    /// Copies up to `.1` bytes from `.0` to `.2`.
    Duplicate(Pos, usize, Pos),
    /// Removes `cut` bytes, then inserts token `t` `times` times.
    Splice {
        at: Pos,
        cut: usize,
        t: usize,
        times: usize,
    },
    /// A little-endian integer of `.1` bytes (2, 4 or 8) written over the input.
    Word(Pos, usize, u64),
}

fn pos() -> impl Strategy<Value = Pos> {
    (0..count(ANCHORS), any::<usize>(), 0..48usize).prop_map(|(a, k, off)| Pos(a, k, off))
}

fn edit() -> impl Strategy<Value = Edit> {
    let times = prop_oneof![8 => 1..4usize, 1 => Just(64), 1 => Just(30_000)];
    let cut = prop_oneof![Just(0), 0..32usize];
    let word = prop_oneof![select(WORDS), any::<u64>()];
    prop_oneof![
        1 => (pos(), any::<u8>()).prop_map(|(p, b)| Edit::Flip(p, b)),
        1 => (pos(), any::<u8>()).prop_map(|(p, b)| Edit::Set(p, b)),
        1 => pos().prop_map(Edit::Truncate),
        1 => (pos(), prop::collection::vec(any::<u8>(), 1..16)).prop_map(|(p, b)| Edit::Insert(p, b)),
        1 => (pos(), 1..512usize, pos()).prop_map(|(a, n, b)| Edit::Duplicate(a, n, b)),
        3 => (pos(), cut, 0..count(TOKENS), times)
            .prop_map(|(at, cut, t, times)| Edit::Splice { at, cut, t, times }),
        2 => (pos(), select(&[2, 4, 8][..]), word).prop_map(|(p, w, v)| Edit::Word(p, w, v)),
    ]
}

/// Where a position lands in `b`: always `<= b.len()`.
fn at(b: &[u8], Pos(a, k, off): Pos) -> usize {
    let needle = nth(ANCHORS, a);
    let hits: Vec<usize> = match needle.len() {
        0 => vec![],
        n => (0..b.len().saturating_sub(n - 1))
            .filter(|&i| b[i..].starts_with(needle))
            .collect(),
    };
    match hits.len() {
        0 => k % (b.len() + 1),
        n => (hits[k % n] + needle.len() + off).min(b.len()),
    }
}

fn apply(mut b: Vec<u8>, edits: &[Edit]) -> Vec<u8> {
    for e in edits {
        match e {
            &Edit::Flip(p, bit) => {
                let i = at(&b, p);
                if let Some(x) = b.get_mut(i) {
                    *x ^= 1 << (bit % 8);
                }
            }
            &Edit::Set(p, v) => {
                let i = at(&b, p);
                if let Some(x) = b.get_mut(i) {
                    *x = v;
                }
            }
            &Edit::Truncate(p) => b.truncate(at(&b, p)),
            Edit::Insert(p, bytes) => drop(b.splice(at(&b, *p)..at(&b, *p), bytes.clone())),
            &Edit::Duplicate(from, n, to) => {
                let i = at(&b, from);
                let (chunk, j) = (b[i..(i + n).min(b.len())].to_vec(), at(&b, to));
                drop(b.splice(j..j, chunk));
            }
            &Edit::Splice {
                at: p,
                cut,
                t,
                times,
            } => {
                let i = at(&b, p);
                drop(b.splice(i..(i + cut).min(b.len()), nth(TOKENS, t).repeat(times)));
            }
            &Edit::Word(p, width, v) => {
                let i = at(&b, p);
                if let Some(dst) = b.get_mut(i..i + width) {
                    dst.copy_from_slice(&v.to_le_bytes()[..width]);
                }
            }
        }
    }
    b
}

// ---- Rebuilt archives ----

/// CRC-32 (IEEE), bitwise: the members are small.
fn crc32(data: &[u8]) -> u32 {
    let step = |c: u32| (c >> 1) ^ (0xedb8_8320 & (c & 1).wrapping_neg());
    !data
        .iter()
        .fold(!0, |c, &b| (0..8).fold(c ^ b as u32, |c, _| step(c)))
}

/// Appends `values[i]` as a little-endian integer of `widths[i]` bytes.
fn put(out: &mut Vec<u8>, widths: &[usize], values: &[usize]) {
    for (&w, &v) in widths.iter().zip(values) {
        out.extend_from_slice(&(v as u64).to_le_bytes()[..w]);
    }
}

/// A zip as np.savez writes it (one disk, no ZIP64). `deflate` wraps each
/// member in stored deflate blocks: valid method-8 data without a compressor.
fn build_zip(members: &[(String, Vec<u8>)], deflate: bool) -> Vec<u8> {
    let (mut out, mut cd) = (vec![], vec![]);
    for (name, data) in members {
        let mut body = vec![];
        match deflate {
            false => body.extend_from_slice(data),
            true => {
                let mut blocks: Vec<&[u8]> = data.chunks(0xffff).collect();
                blocks.resize(blocks.len().max(1), &[]);
                for (i, c) in blocks.iter().enumerate() {
                    let last = (i + 1 == blocks.len()) as usize;
                    put(&mut body, &[1, 2, 2], &[last, c.len(), !c.len() & 0xffff]);
                    body.extend_from_slice(c);
                }
            }
        }
        let (crc, off, method) = (crc32(data) as usize, out.len(), 8 * deflate as usize);
        let head = [
            20,
            0,
            method,
            0,
            0,
            crc,
            body.len(),
            data.len(),
            name.len(),
            0,
        ];
        let widths = [2, 2, 2, 2, 2, 4, 4, 4, 2, 2];
        put(&mut out, &[4], &[0x0403_4b50]);
        put(&mut out, &widths, &head);
        out.extend(name.bytes().chain(body));
        put(&mut cd, &[4, 2], &[0x0201_4b50, 20]);
        put(&mut cd, &widths, &head);
        put(&mut cd, &[2, 2, 2, 4, 4], &[0, 0, 0, 0, off]);
        cd.extend(name.bytes());
    }
    let (n, cd_off, cd_len) = (members.len(), out.len(), cd.len());
    put(
        &mut cd,
        &[4, 2, 2, 2, 2, 4, 4, 2],
        &[0x0605_4b50, 0, 0, n, n, cd_len, cd_off, 0],
    );
    [out, cd].concat()
}

/// Names and arrays for rebuilt archives: every committed key (also under
/// a prefix) and every committed array of at most 4096 values.
fn member_pool() -> (Vec<String>, Vec<Vec<u8>>) {
    let (mut names, mut arrays) = (vec!["dir/".to_string()], data_files("npy"));
    arrays.retain(|a| a.len() <= MAX_SEED);
    for z in data_files("npz") {
        for (k, a) in parse_npz(&z, "seed").unwrap() {
            if a.data.len() <= 4096 {
                arrays.push(npy_bytes(&a.shape, &a.data));
            }
            names.extend([format!("attn.{k}"), k]);
        }
    }
    names.sort();
    names.dedup();
    (names, arrays)
}

/// Mostly none, so that sound archives of odd members reach the loaders.
fn few_edits() -> impl Strategy<Value = Vec<Edit>> {
    prop_oneof![3 => Just(vec![]), 1 => prop::collection::vec(edit(), 1..3)]
}

/// Archives of 1-7 members (committed or random-shaped arrays under
/// committed keys), the members and then the archive mutated.
fn rebuilt_zip() -> impl Strategy<Value = Vec<u8>> {
    let (names, arrays) = member_pool();
    let random = prop::collection::vec(0..6usize, 0..4).prop_map(|shape| {
        let n = shape.iter().product::<usize>();
        npy_bytes(&shape, &(0..n).map(|i| i as f32 / 7.0).collect::<Vec<_>>())
    });
    let name = (select(names), any::<bool>()).prop_map(|(n, npy)| if npy { n + ".npy" } else { n });
    let member = (name, prop_oneof![select(arrays), random], few_edits())
        .prop_map(|(n, b, e)| (n, apply(b, &e)));
    (
        prop::collection::vec(member, 1..8),
        any::<bool>(),
        few_edits(),
    )
        .prop_map(|(m, deflate, e)| apply(build_zip(&m, deflate), &e))
}

/// Larger files are no mutation bases (their arrays may still be members):
/// they would slow every case and find nothing new.
const MAX_SEED: usize = 64 << 10;

/// An input, shown as an escaped byte string when a case fails.
#[derive(Clone)]
struct Input(Vec<u8>);

impl std::fmt::Debug for Input {
    fn fmt(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        write!(f, "{} bytes: b\"{}\"", self.0.len(), self.0.escape_ascii())
    }
}

fn inputs(t: &Target) -> BoxedStrategy<Input> {
    let mut seeds = (t.1)();
    seeds.retain(|s| s.len() <= MAX_SEED);
    assert!(
        !seeds.is_empty(),
        "{}: no seeds of at most {MAX_SEED} bytes",
        t.0
    );
    let random = prop::collection::vec(any::<u8>(), 0..1024);
    let mutated = (select(seeds), prop::collection::vec(edit(), 0..8));
    let mutated = mutated.prop_map(|(s, e)| apply(s, &e));
    match t.2 {
        false => prop_oneof![1 => random, 6 => mutated]
            .prop_map(Input)
            .boxed(),
        true => prop_oneof![1 => random, 4 => mutated, 4 => rebuilt_zip()]
            .prop_map(Input)
            .boxed(),
    }
}

// ---- Limits ----

const TIME_LIMIT: Duration = Duration::from_secs(2);
/// Past this a parse is hung and will not return to report: abort.
const HANG: Duration = Duration::from_secs(30);
/// Past this the allocation itself would page or abort: abort first.
const HARD_CAP: usize = 4 << 30;

fn alloc_limit(input_len: usize) -> usize {
    (64 << 20usize).max(16 * input_len + (1 << 20))
}

/// What one target's thread is parsing, for the watchdog and `note`.
struct Busy {
    name: &'static str,
    /// Milliseconds from the start of the run to the start of this case; 0 when idle.
    since_ms: AtomicU64,
    input: Mutex<Vec<u8>>,
}

thread_local! {
    static LARGEST: Cell<usize> = const { Cell::new(0) };
    static BUSY: Cell<Option<&'static Busy>> = const { Cell::new(None) };
}

/// Records each thread's largest single allocation.
struct Counting;

fn note(size: usize) {
    let _ = LARGEST.try_with(|m| m.set(m.get().max(size)));
    if size > HARD_CAP {
        if let Ok(Some(b)) = BUSY.try_with(|b| b.take()) {
            crash(b, &format!("asked for {size} bytes"));
        }
    }
}

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, l: Layout) -> *mut u8 {
        note(l.size());
        unsafe { System.alloc(l) }
    }
    unsafe fn alloc_zeroed(&self, l: Layout) -> *mut u8 {
        note(l.size());
        unsafe { System.alloc_zeroed(l) }
    }
    unsafe fn realloc(&self, p: *mut u8, l: Layout, new: usize) -> *mut u8 {
        note(new);
        unsafe { System.realloc(p, l, new) }
    }
    unsafe fn dealloc(&self, p: *mut u8, l: Layout) {
        unsafe { System.dealloc(p, l) }
    }
}

#[global_allocator]
static ALLOC: Counting = Counting;

/// For what cannot fail gracefully: saves the input where cargo keeps test
/// scratch files, and aborts.
fn crash(b: &Busy, what: &str) -> ! {
    let input = b.input.lock().unwrap();
    let path = Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("fuzz-crash-{}.bin", b.name));
    let _ = std::fs::write(&path, &*input);
    eprintln!(
        "fuzz {}: one parse {what}; its {} bytes are in {}",
        b.name,
        input.len(),
        path.display()
    );
    std::process::abort()
}

/// Marks the thread idle again, also when the parse panics.
struct Idle(&'static Busy);

impl Drop for Idle {
    fn drop(&mut self) {
        self.0.since_ms.store(0, SeqCst);
    }
}

fn ms_since(t0: Instant) -> u64 {
    t0.elapsed().as_millis() as u64 + 1
}

/// Runs one case under the limits.
fn one_case(
    t: &Target,
    busy: &'static Busy,
    t0: Instant,
    input: &[u8],
) -> Result<(), TestCaseError> {
    *busy.input.lock().unwrap() = input.to_vec();
    busy.since_ms.store(ms_since(t0), SeqCst);
    let _idle = Idle(busy);
    LARGEST.set(0);
    let start = Instant::now();
    let _ = (t.3)(input);
    let (took, largest, limit, n) = (
        start.elapsed(),
        LARGEST.get(),
        alloc_limit(input.len()),
        input.len(),
    );
    prop_assert!(
        took <= TIME_LIMIT,
        "one parse took {took:?} (limit {TIME_LIMIT:?}) on {n} bytes"
    );
    prop_assert!(
        largest <= limit,
        "one allocation of {largest} bytes (limit {limit}) on {n} bytes"
    );
    Ok(())
}

/// All targets at once, a thread each, and the watchdog.
#[test]
fn parsers_survive_hostile_input() {
    let var = |name| std::env::var(name).ok();
    let cases: u32 = var("FUZZ_CASES").map_or(2000, |v| v.parse().expect("FUZZ_CASES: a count"));
    let only = var("FUZZ_TARGETS");
    let chosen = TARGETS.iter().filter(|t| {
        only.as_deref()
            .is_none_or(|o| o.split(',').any(|n| n == t.0))
    });
    let chosen: Vec<(&Target, &'static Busy)> = chosen
        .map(|t| {
            (
                t,
                &*Box::leak(Box::new(Busy {
                    name: t.0,
                    since_ms: 0.into(),
                    input: Mutex::default(),
                })),
            )
        })
        .collect();
    assert!(!chosen.is_empty(), "FUZZ_TARGETS={only:?} names no target");
    let (t0, done) = (Instant::now(), AtomicBool::new(false));
    let failures: Vec<String> = std::thread::scope(|s| {
        s.spawn(|| {
            while !done.load(SeqCst) {
                std::thread::sleep(Duration::from_millis(100));
                for (_, b) in &chosen {
                    let since = b.since_ms.load(SeqCst);
                    if since != 0 && ms_since(t0) - since > HANG.as_millis() as u64 {
                        crash(b, &format!("ran past {HANG:?}"));
                    }
                }
            }
        });
        let runs: Vec<_> = chosen
            .iter()
            .map(|&(t, b)| {
                s.spawn(move || {
                    BUSY.set(Some(b));
                    let config = Config {
                        cases,
                        failure_persistence: None,
                        ..Config::default()
                    };
                    let start = Instant::now();
                    let r = TestRunner::new(config)
                        .run(&inputs(t), |input| one_case(t, b, t0, &input.0));
                    eprintln!(
                        "fuzz {}: {cases} cases in {:.1} s",
                        t.0,
                        start.elapsed().as_secs_f64()
                    );
                    r.map_err(|e| format!("{}: {e}", t.0))
                })
            })
            .collect();
        let failures = runs
            .into_iter()
            .filter_map(|h| h.join().unwrap().err())
            .collect();
        done.store(true, SeqCst);
        failures
    });
    let total = cases as usize * chosen.len();
    eprintln!(
        "fuzz: {total} cases in all in {:.1} s",
        t0.elapsed().as_secs_f64()
    );
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
}

// ---- Bugs found while writing this harness, kept as quick checks ----

/// Reordering Fortran-order data costs elements x dimensions: 30000
/// dimensions of 1 in a 120 KB .npy took 3 s, 10x that size 5 minutes.
#[test]
fn npy_with_many_dimensions_is_refused_at_once() {
    let dims = "1, ".repeat(30_000);
    let header = format!("{{'descr': '|u1', 'fortran_order': True, 'shape': ({dims}30000), }}");
    let len = (header.len() as u32).to_le_bytes();
    let b = [
        &b"\x93NUMPY\x02\x00"[..],
        &len,
        header.as_bytes(),
        &[7; 30_000],
    ]
    .concat();
    let start = Instant::now();
    let e = match parse_npy(&b, "many.npy") {
        Ok(a) => panic!("{} dimensions accepted", a.shape.len()),
        Err(e) => e.to_string(),
    };
    assert!(e.contains("more than 64 dimensions"), "{e}");
    assert!(
        start.elapsed() < Duration::from_millis(500),
        "{:?}",
        start.elapsed()
    );
}

/// Each `StateDict::get` scanned every key: a 3 MB LSTM state_dict of
/// 3000 layers took 37 s to load.
#[test]
fn state_dict_of_many_layers_loads_in_linear_time() {
    let mut members = vec![];
    for l in 0..3000 {
        for (k, shape) in [
            ("weight_ih_l", &[4, 1][..]),
            ("weight_hh_l", &[4, 1]),
            ("bias_ih_l", &[4]),
            ("bias_hh_l", &[4]),
        ] {
            members.push((format!("{k}{l}.npy"), npy_bytes(shape, &[0.5; 4])));
        }
    }
    let start = Instant::now();
    let map = parse_npz(&build_zip(&members, false), "deep.npz").unwrap();
    let rnn = RnnStack::from_state_dict(&map, "deep.npz", None).unwrap();
    assert_eq!(rnn.layers.len(), 3000);
    assert!(start.elapsed() < TIME_LIMIT, "{:?}", start.elapsed());
}
