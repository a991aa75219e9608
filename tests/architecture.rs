//! The shape docs/ARCHITECTURE.md promises, checked on the source itself:
//! the module graph has no cycles (between top-level modules, and between
//! files), the core never imports an application module, and no source
//! file grows past 600 lines. The import graph is read from `crate::`,
//! `super::` and `self::` paths, including grouped `use` trees.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

const MAX_LINES: usize = 600;

/// A module path: `["ops", "matmul", "tex"]` for src/ops/matmul/tex.rs.
type Module = Vec<String>;

fn source_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for e in std::fs::read_dir(dir).expect("src/ is readable") {
        let p = e.expect("a directory entry").path();
        if p.is_dir() {
            source_files(&p, out);
        } else if p.extension().is_some_and(|x| x == "rs") {
            out.push(p);
        }
    }
}

fn module_of(src: &Path, file: &Path) -> Module {
    let rel = file
        .strip_prefix(src)
        .expect("under src/")
        .with_extension("");
    let mut m: Module = rel
        .components()
        .map(|c| c.as_os_str().to_string_lossy().into_owned())
        .collect();
    if m.last().is_some_and(|l| l == "mod") {
        m.pop();
    }
    m
}

/// Drops line comments (doc comments included) so that examples in docs
/// do not count as imports.
fn strip_comments(s: &str) -> String {
    s.lines()
        .map(|l| match l.find("//") {
            Some(i) => &l[..i],
            None => l,
        })
        .collect::<Vec<_>>()
        .join("\n")
}

fn ident(s: &[u8], mut i: usize) -> Option<(String, usize)> {
    while i < s.len() && s[i].is_ascii_whitespace() {
        i += 1;
    }
    let start = i;
    while i < s.len() && (s[i].is_ascii_alphanumeric() || s[i] == b'_') {
        i += 1;
    }
    (i > start).then(|| (String::from_utf8_lossy(&s[start..i]).into_owned(), i))
}

fn skip_ws(s: &[u8], mut i: usize) -> usize {
    while i < s.len() && s[i].is_ascii_whitespace() {
        i += 1;
    }
    i
}

/// Expands the path (or `use` tree) starting at byte `i` into every path it
/// names, each prefixed by `prefix`; returns where it ended.
fn expand(s: &[u8], mut i: usize, prefix: Module, out: &mut Vec<Module>) -> usize {
    let mut segs = prefix;
    loop {
        i = skip_ws(s, i);
        if s.get(i) == Some(&b'{') {
            i += 1;
            loop {
                i = skip_ws(s, i);
                if i >= s.len() || s[i] == b'}' {
                    return i + 1;
                }
                i = expand(s, i, segs.clone(), out);
                i = skip_ws(s, i);
                match s.get(i) {
                    Some(b',') => i += 1,
                    Some(b'}') => return i + 1,
                    _ => return i,
                }
            }
        }
        let Some((name, j)) = ident(s, i) else {
            out.push(segs);
            return i;
        };
        segs.push(name);
        i = j;
        if s.get(i..i + 2) == Some(b"::") {
            i += 2;
        } else {
            out.push(segs);
            return i;
        }
    }
}

/// The module each file imports from (the longest known module prefix of
/// every path it names), itself and `lib` excluded.
fn imports(me: &Module, is_mod_rs: bool, text: &str, known: &BTreeSet<Module>) -> BTreeSet<Module> {
    let s = text.as_bytes();
    let mut found = BTreeSet::new();
    for (kw, base) in [
        ("crate::", Module::new()),
        ("super::", {
            let mut b = me.clone();
            b.pop();
            b
        }),
        ("self::", if is_mod_rs { me.clone() } else { Module::new() }),
    ] {
        let mut from = 0;
        while let Some(k) = text[from..].find(kw) {
            let at = from + k;
            from = at + kw.len();
            let before = at.checked_sub(1).map(|b| s[b]);
            if before.is_some_and(|c| c.is_ascii_alphanumeric() || c == b'_' || c == b':') {
                continue;
            }
            if kw == "self::" && !is_mod_rs {
                continue;
            }
            let mut paths = vec![];
            expand(s, at + kw.len(), base.clone(), &mut paths);
            for p in paths {
                let target = (1..=p.len())
                    .rev()
                    .map(|n| p[..n].to_vec())
                    .find(|m| known.contains(m));
                if let Some(t) = target {
                    if &t != me {
                        found.insert(t);
                    }
                }
            }
        }
    }
    found
}

struct Crate {
    /// Every library file's module and what it imports; main.rs and the
    /// binary's cli/ are left out (they import the library by name).
    graph: BTreeMap<Module, BTreeSet<Module>>,
    lines: Vec<(PathBuf, usize)>,
}

fn read_crate() -> Crate {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = vec![];
    source_files(&src, &mut files);
    files.sort();
    let known: BTreeSet<Module> = files.iter().map(|f| module_of(&src, f)).collect();
    let mut graph = BTreeMap::new();
    let mut lines = vec![];
    for f in &files {
        let text = std::fs::read_to_string(f).expect("a readable source file");
        lines.push((f.clone(), text.lines().count()));
        let m = module_of(&src, f);
        if m == ["lib"] || m == ["main"] || m[0] == "cli" {
            continue;
        }
        let is_mod_rs = f.file_name().is_some_and(|n| n == "mod.rs");
        let deps = imports(&m, is_mod_rs, &strip_comments(&text), &known);
        graph.insert(m, deps);
    }
    Crate { graph, lines }
}

/// The first cycle found (as a path that returns to its start), if any.
fn find_cycle<N: Ord + Clone>(graph: &BTreeMap<N, BTreeSet<N>>) -> Option<Vec<N>> {
    fn visit<N: Ord + Clone>(
        n: &N,
        graph: &BTreeMap<N, BTreeSet<N>>,
        state: &mut BTreeMap<N, u8>,
        stack: &mut Vec<N>,
    ) -> Option<Vec<N>> {
        state.insert(n.clone(), 1);
        stack.push(n.clone());
        for d in graph.get(n).into_iter().flatten() {
            match state.get(d) {
                Some(1) => {
                    let i = stack.iter().position(|x| x == d).unwrap_or(0);
                    let mut c = stack[i..].to_vec();
                    c.push(d.clone());
                    return Some(c);
                }
                Some(_) => {}
                None => {
                    if let Some(c) = visit(d, graph, state, stack) {
                        return Some(c);
                    }
                }
            }
        }
        stack.pop();
        state.insert(n.clone(), 2);
        None
    }
    let mut state = BTreeMap::new();
    for n in graph.keys() {
        if !state.contains_key(n) {
            if let Some(c) = visit(n, graph, &mut state, &mut vec![]) {
                return Some(c);
            }
        }
    }
    None
}

fn show(c: &[Module]) -> String {
    c.iter()
        .map(|m| m.join("::"))
        .collect::<Vec<_>>()
        .join(" -> ")
}

#[test]
fn no_import_cycles_between_files() {
    let c = read_crate();
    if let Some(cycle) = find_cycle(&c.graph) {
        panic!("import cycle between files: {}", show(&cycle));
    }
}

#[test]
fn no_import_cycles_between_top_level_modules() {
    let c = read_crate();
    let mut top: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for (m, deps) in &c.graph {
        let entry = top.entry(m[0].clone()).or_default();
        entry.extend(deps.iter().map(|d| d[0].clone()).filter(|d| d != &m[0]));
    }
    if let Some(cycle) = find_cycle(&top) {
        panic!("import cycle between modules: {}", cycle.join(" -> "));
    }
}

#[test]
fn the_core_never_imports_an_application_module() {
    let c = read_crate();
    let bad: Vec<String> = c
        .graph
        .iter()
        .filter(|(m, _)| m[0] != "app")
        .flat_map(|(m, deps)| {
            deps.iter()
                .filter(|d| d[0] == "app")
                .map(move |d| format!("{} imports {}", m.join("::"), d.join("::")))
        })
        .collect();
    assert!(bad.is_empty(), "core modules import applications: {bad:#?}");
}

#[test]
fn no_source_file_is_longer_than_600_lines() {
    let c = read_crate();
    let long: Vec<String> = c
        .lines
        .iter()
        .filter(|(_, n)| *n > MAX_LINES)
        .map(|(p, n)| format!("{} has {n} lines", p.display()))
        .collect();
    assert!(long.is_empty(), "split these by responsibility: {long:#?}");
}

/// The checks above are only as good as the reader: it must see a cycle
/// and a core-to-app import when they are there.
#[test]
fn the_import_reader_sees_grouped_and_nested_paths() {
    let known: BTreeSet<Module> = [vec!["a"], vec!["a", "b"], vec!["c"], vec!["app", "x"]]
        .into_iter()
        .map(|m| m.into_iter().map(String::from).collect())
        .collect();
    let me: Module = vec!["c".into()];
    let text = "use crate::{a::b::{Thing, other}, app::x::Y};\nfn f() { super::a::g(); }";
    let got = imports(&me, false, text, &known);
    let names: BTreeSet<String> = got.iter().map(|m| m.join("::")).collect();
    assert_eq!(
        names,
        ["a", "a::b", "app::x"]
            .iter()
            .map(|s| s.to_string())
            .collect(),
        "{got:?}"
    );
    let mut g: BTreeMap<u8, BTreeSet<u8>> = BTreeMap::new();
    g.insert(1, [2].into());
    g.insert(2, [3].into());
    g.insert(3, [1].into());
    assert_eq!(find_cycle(&g), Some(vec![1, 2, 3, 1]));
    g.insert(3, BTreeSet::new());
    assert_eq!(find_cycle(&g), None);
}
