//! The .npy/.npz readers against valid files and hostile ones.

/// CI runs a short fuzz; WGSL_NN_FUZZ_CASES=N runs N cases per target
/// (millions were run once; see README's reliability section).
fn fuzz_cases(default: u32) -> u32 {
    std::env::var("WGSL_NN_FUZZ_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

use super::npz::crc32;
use super::*;
use proptest::prelude::*;

macro_rules! fixtures {
    ($($name:literal),*) => {
        [$(include_bytes!(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/data/", $name))
            .as_slice()),*]
    };
}
const FIXTURES: [&[u8]; 7] = fixtures!(
    "small.npy",
    "f64_fortran.npy",
    "big_endian_f4.npy",
    "int64.npy",
    "params.npz",
    "params_compressed.npz",
    "zip64.npz"
);

fn arange(n: usize) -> Vec<f32> {
    (0..n).map(|i| i as f32).collect()
}

fn array(shape: &[usize], data: Vec<f32>) -> Array {
    let shape = shape.to_vec();
    Array { shape, data }
}

/// A .npy with a hand-written header, for dtypes and layouts we never write.
fn raw_npy(version: u8, header: &str, body: &[u8]) -> Vec<u8> {
    let len = (header.len() as u32).to_le_bytes();
    let len = if version == 1 { &len[..2] } else { &len[..] };
    [MAGIC, &[version, 0], len, header.as_bytes(), body].concat()
}

#[test]
fn round_trip() {
    for shape in [&[][..], &[0], &[1], &[2, 3], &[2, 3, 4, 5]] {
        let data = arange(shape.iter().product());
        let bytes = npy_bytes(shape, &data);
        assert_eq!(bytes.iter().position(|&b| b == b'\n').unwrap() % 64, 63);
        assert_eq!(parse_npy(&bytes, "x").unwrap(), array(shape, data));
    }
    let path = std::env::temp_dir().join(format!("npy_rt_{}.npy", std::process::id()));
    let data = [1.0, -2.0, 3.5, f32::INFINITY];
    write_npy(&path, &[2, 2], &data).unwrap();
    assert_eq!(read_npy(&path).unwrap(), array(&[2, 2], data.to_vec()));
    std::fs::remove_file(&path).unwrap();
    let mismatch = write_npy(&path, &[3], &[1.0]);
    assert!(matches!(mismatch, Err(NpyError::ShapeMismatch(..))));
}

#[test]
fn numpy_fixtures() {
    assert_eq!(
        npy_bytes(&[2, 3], &arange(6)),
        FIXTURES[0],
        "must match np.save"
    );
    let int64 = vec![-2., -1., 0., 1., 2., 3.];
    let npys = [
        (&[2, 3], arange(6)),
        (&[2, 3], arange(6)),
        (&[3, 2], arange(6)),
        (&[2, 3], int64),
    ];
    for (i, (shape, data)) in npys.into_iter().enumerate() {
        assert_eq!(parse_npy(FIXTURES[i], "f").unwrap(), array(shape, data));
    }
    let params = [
        ("0.bias", vec![2]),
        ("0.weight", vec![2, 1, 3, 3]),
        ("2.bias", vec![1]),
        ("2.weight", vec![1, 2, 5, 5]),
    ];
    let zip64 = [("a", vec![2, 3]), ("b", vec![3])];
    for (npz, want) in [
        (FIXTURES[4], &params[..]),
        (FIXTURES[5], &params),
        (FIXTURES[6], &zip64),
    ] {
        let m = parse_npz(npz, "params.npz").unwrap();
        let got: Vec<_> = m
            .iter()
            .map(|(k, a)| (k.as_str(), a.shape.clone()))
            .collect();
        assert_eq!(got, want);
        assert!(m.values().all(|a| a.data == arange(a.data.len())));
    }
}

#[test]
fn dtypes_and_header_variants() {
    let cases: [(&str, &[u8], [f32; 2]); 11] = [
        ("<f2", &[0x00, 0x3c, 0x01, 0x80], [1.0, -(2f32.powi(-24))]),
        ("<f2", &[0x00, 0x7c, 0x00, 0xc0], [f32::INFINITY, -2.0]),
        (
            ">f8",
            &[0x3f, 0xf8, 0, 0, 0, 0, 0, 0, 0xc0, 0, 0, 0, 0, 0, 0, 0],
            [1.5, -2.0],
        ),
        ("|i1", &[0xff, 7], [-1.0, 7.0]),
        ("|u1", &[0xff, 7], [255.0, 7.0]),
        ("<i2", &[0xfe, 0xff, 1, 0], [-2.0, 1.0]),
        ("<u2", &[0xff, 0xff, 1, 0], [65535.0, 1.0]),
        ("<i4", &[0xfd, 0xff, 0xff, 0xff, 1, 0, 0, 0], [-3.0, 1.0]),
        ("<u4", &[0, 0, 0, 0x80, 1, 0, 0, 0], [2147483648.0, 1.0]),
        ("|b1", &[0, 1], [0.0, 1.0]),
        ("=f4", &[0, 0, 0x80, 0x3f, 0, 0, 0, 0x40], [1.0, 2.0]),
    ];
    let f = |version: usize, descr: &str, body: &[u8]| {
        // Odd spacing, key order, quotes and Python 2's `2L` are all legal.
        let h = format!("{{ \"shape\":(2L ,) ,'descr' : \"{descr}\",'fortran_order':False }}\n");
        parse_npy(&raw_npy(version as u8 % 3 + 1, &h, body), "t").map(|a| a.data)
    };
    for (i, (descr, body, want)) in cases.into_iter().enumerate() {
        assert_eq!(f(i, descr, body).unwrap(), want, "{descr}");
    }
    let scalar = "{'descr': '<f4', 'fortran_order': True, 'shape': (), }";
    let scalar = parse_npy(&raw_npy(1, scalar, &2f32.to_le_bytes()), "s");
    assert_eq!(scalar.unwrap(), array(&[], vec![2.0]));
    let hint = "convert with arr.astype(np.float32)";
    for bad in [
        "<c8",
        "|O",
        "<U10",
        "|f4",
        "[('a', '<f4'), ('b', [('c', '<i4')])]",
    ] {
        let e = f(0, bad, &[0; 16]).unwrap_err().to_string();
        assert_eq!(e, format!("unsupported dtype '{bad}' in t; {hint}"));
    }
}

#[test]
fn error_messages() {
    let e = |b: &[u8], what: &str| parse_npy(b, what).unwrap_err().to_string();
    let hdr = |shape: &str, descr: &str| {
        format!("{{'descr': '{descr}', 'fortran_order': False, 'shape': {shape}}}")
    };
    let x = raw_npy(1, &hdr("(2, 3)", "<f4"), &[0; 20]);
    let truncated =
        "truncated: header says shape (2, 3) of <f4 = 24 bytes of data but the file has 20";
    assert_eq!(e(&x, "x.npy"), format!("x.npy: {truncated}"));
    let x = raw_npy(1, &hdr("(2, 3)", "<f4"), &[0; 28]);
    assert!(e(&x, "x").starts_with("x: trailing bytes after the data: "));
    let magic = "x.npy: not a .npy file (magic bytes missing); save it with np.save";
    assert_eq!(e(b"PK\x03\x04", "x.npy"), magic);
    // Hostile sizes are rejected before anything is allocated for them.
    let huge = e(&raw_npy(1, &hdr("(268435456,)", "<f8"), &[0; 8]), "h");
    assert!(
        huge.starts_with("h: truncated: header says shape (268435456,) of <f8 = 2147483648"),
        "{huge}"
    );
    let big = raw_npy(
        1,
        &hdr("(2,)", "<f8"),
        &[1.0f64.to_le_bytes(), 1e300f64.to_le_bytes()].concat(),
    );
    assert!(e(&big, "b").contains("element 1 is 1e300, beyond float32's range"));
    let over = raw_npy(1, &hdr("(268435457,)", "<u1"), &[]);
    assert!(matches!(parse_npy(&over, "o"), Err(NpyError::TooLarge(..))));
    let over = raw_npy(1, &hdr("(65536, 65536, 1)", "<f4"), &[]);
    assert!(matches!(parse_npy(&over, "o"), Err(NpyError::TooLarge(..))));
    let bad_headers = [
        "{'descr':'<f4','shape':(1,)}",
        "{'descr':'<f4'",
        &hdr("(1,)x", "<f4"),
    ];
    for h in bad_headers {
        assert!(
            e(&raw_npy(1, h, &[0; 4]), "y").starts_with("y: bad .npy header: "),
            "{h}"
        );
    }
    let missing = read_npy(Path::new("/nonexistent/foo.npy"))
        .unwrap_err()
        .to_string();
    assert_eq!(
        missing,
        "cannot read '/nonexistent/foo.npy': No such file or directory (os error 2)"
    );

    let z = |b: &[u8]| parse_npz(b, "params.npz").unwrap_err().to_string();
    let no_eocd = "not a NumPy .npz (zip) file: no end-of-central-directory record";
    assert_eq!(
        z(FIXTURES[0]),
        format!("params.npz: {no_eocd}; save it with np.savez")
    );
    let cd = |b: &[u8]| b.windows(4).position(|w| w == b"PK\x01\x02").unwrap();
    let patched = |i: usize, off: usize, val: &[u8]| {
        let mut b = FIXTURES[i].to_vec();
        let at = cd(&b) + off;
        b[at..at + val.len()].copy_from_slice(val);
        z(&b)
    };
    let bzip2 = "member '0.weight.npy' is compressed with method 12 (bzip2)";
    let save = "save with np.savez or np.savez_compressed";
    assert_eq!(
        patched(5, 10, &[12]),
        format!("params.npz: {bzip2}; {save}")
    );
    let crc = patched(4, 16, &[0]);
    assert!(crc.starts_with("params.npz: CRC mismatch in member '0.weight.npy' (stored "));
    assert!(patched(5, 24, &[0xff; 4]).contains("impossible size"));
    // A bad array inside a valid archive is reported with its key; the
    // first member's .npy starts at 0x3e and is 200 bytes long.
    let mut b = FIXTURES[4].to_vec();
    b[0x3e + 22..0x3e + 24].copy_from_slice(b"c8");
    let (at, crc) = (cd(&b) + 16, crc32(&b[0x3e..0x3e + 200]));
    b[at..at + 4].copy_from_slice(&crc.to_le_bytes());
    assert!(z(&b).starts_with("unsupported dtype '<c8' in params.npz['0.weight']; "));
}

fn mutate(mut b: Vec<u8>, ops: &[(u8, usize, u8)]) -> Vec<u8> {
    for &(op, pos, val) in ops {
        let i = pos % (b.len() + 1);
        match op % 3 {
            0 if i < b.len() => b[i] ^= val.max(1),
            1 => b.truncate(i),
            _ => b.insert(i, val),
        }
    }
    b
}

fn bytes(max: usize) -> impl Strategy<Value = Vec<u8>> {
    prop::collection::vec(any::<u8>(), 0..max)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(fuzz_cases(2000)))]
    #[test]
    fn arbitrary_bytes_never_panic(b in bytes(600), npy in any::<bool>()) {
        let b = if npy { [MAGIC, &[1, 0], &b].concat() } else { b };
        let _ = parse_npy(&b, "x");
        let _ = parse_npz(&b, "x");
    }

    #[test]
    fn arbitrary_headers_never_panic(
        h in "[ {}()\\[\\]'\":,a-z_<>|=0-9TFL]{0,80}",
        body in bytes(64),
    ) {
        let _ = parse_npy(&raw_npy(1, &h, &body), "x");
    }

    #[test]
    fn mutated_fixtures_never_panic(
        f in 0..FIXTURES.len(),
        ops in prop::collection::vec(any::<(u8, usize, u8)>(), 1..6),
    ) {
        let b = mutate(FIXTURES[f].to_vec(), &ops);
        let _ = parse_npy(&b, "x");
        let _ = parse_npz(&b, "x");
    }
}
