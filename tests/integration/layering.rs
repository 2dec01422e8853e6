//! The layering of `src/` against the picture in docs/architecture.md: every `crate::`,
//! `super::` and `use crate::{…}` path in production code points to a room on a lower floor;
//! operations do not reach into each other beyond what the doc allows; `src/lib.rs`'s layout
//! doc names every module that exists and nothing else; the integration test list in
//! `tests/integration/main.rs` names every suite.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// Every `.rs` file under `dir`, as (module path, text).
fn modules(src: &Path) -> BTreeMap<String, (PathBuf, String)> {
    let mut out = BTreeMap::new();
    let mut stack = vec![src.to_path_buf()];
    while let Some(dir) = stack.pop() {
        for e in std::fs::read_dir(&dir).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                stack.push(p);
                continue;
            }
            if p.extension().is_none_or(|x| x != "rs") {
                continue;
            }
            let rel = p.strip_prefix(src).unwrap().with_extension("");
            let mut segs: Vec<String> = rel
                .components()
                .map(|c| c.as_os_str().to_string_lossy().into_owned())
                .collect();
            if segs.last().is_some_and(|s| s == "mod") {
                segs.pop();
            }
            if segs == ["lib"] || segs == ["main"] {
                continue;
            }
            let text = std::fs::read_to_string(&p).unwrap();
            let shown = p.strip_prefix(src.parent().unwrap()).unwrap().to_path_buf();
            out.insert(segs.join("::"), (shown, text));
        }
    }
    out
}

/// Test code: files that are test modules, and the `#[cfg(test)] mod` at a file's end.
fn is_test_module(module: &str) -> bool {
    let last = module.rsplit("::").next().unwrap_or(module);
    module == "testutil" || last == "tests" || last.ends_with("_props")
}

fn production_text(text: &str) -> String {
    let cut = text.find("#[cfg(test)]\nmod ").unwrap_or(text.len());
    text[..cut]
        .lines()
        .map(|l| match l.find("//") {
            Some(i) => &l[..i],
            None => l,
        })
        .collect::<Vec<_>>()
        .join("\n")
}

fn is_ident(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '_'
}

/// The paths a text names from `crate`, `super` or `self`, each as its segments, resolved
/// against `module` (the module the text is in); groups (`use crate::{a, b::c}`) give one
/// path per member.
fn paths(text: &str, module: &[String]) -> Vec<Vec<String>> {
    let mut out = Vec::new();
    let chars: Vec<char> = text.chars().collect();
    let mut i = 0;
    while i < chars.len() {
        let start_ok = i == 0 || !(is_ident(chars[i - 1]) || chars[i - 1] == ':');
        let rest: String = chars[i..chars.len().min(i + 8)].iter().collect();
        let head = ["crate::", "super::", "self::"]
            .into_iter()
            .find(|h| rest.starts_with(h));
        let (true, Some(_)) = (start_ok, head) else {
            i += 1;
            continue;
        };
        let (prefix, next) = read_path(&chars, i);
        i = next;
        let base = resolve_prefix(&prefix, module);
        if chars.get(i) == Some(&'{') {
            let (members, after) = read_group(&chars, i);
            i = after;
            for m in members {
                let mut p = base.clone();
                p.extend(m);
                out.push(p);
            }
        } else {
            out.push(base);
        }
    }
    out
}

/// Reads `a::b::c` (and a trailing `::`) from `i`; returns the segments and where it ended.
fn read_path(chars: &[char], mut i: usize) -> (Vec<String>, usize) {
    let mut segs = Vec::new();
    loop {
        let s = i;
        while i < chars.len() && is_ident(chars[i]) {
            i += 1;
        }
        if i == s {
            break;
        }
        segs.push(chars[s..i].iter().collect());
        if chars.get(i) == Some(&':') && chars.get(i + 1) == Some(&':') {
            i += 2;
        } else {
            break;
        }
    }
    (segs, i)
}

/// The members of a `{…}` group at `i`, each as the segments it names.
fn read_group(chars: &[char], i: usize) -> (Vec<Vec<String>>, usize) {
    let mut depth = 0;
    let mut j = i;
    let mut members = Vec::new();
    let mut at_member = true;
    while j < chars.len() {
        match chars[j] {
            '{' => {
                depth += 1;
                at_member = depth == 1;
                j += 1;
            }
            '}' => {
                depth -= 1;
                j += 1;
                if depth == 0 {
                    break;
                }
            }
            ',' if depth == 1 => {
                at_member = true;
                j += 1;
            }
            c if at_member && depth == 1 && is_ident(c) => {
                let (segs, next) = read_path(chars, j);
                members.push(segs);
                at_member = false;
                j = next;
            }
            _ => j += 1,
        }
    }
    (members, j)
}

/// `crate::a::b` → `[a, b]`; `super::x` from `ops::check` → `[ops, x]`.
fn resolve_prefix(segs: &[String], module: &[String]) -> Vec<String> {
    let mut base: Vec<String> = module.to_vec();
    let mut rest = segs;
    match segs.first().map(String::as_str) {
        Some("crate") => {
            base.clear();
            rest = &segs[1..];
        }
        _ => {
            while let Some(first) = rest.first() {
                match first.as_str() {
                    "super" => {
                        base.pop();
                        rest = &rest[1..];
                    }
                    "self" => rest = &rest[1..],
                    _ => break,
                }
            }
        }
    }
    base.extend(rest.iter().cloned());
    base
}

/// The floors of docs/architecture.md's table: room → floor.
fn floors(doc: &str) -> BTreeMap<String, u32> {
    let mut out = BTreeMap::new();
    let table = doc
        .split("## Floors")
        .nth(1)
        .expect("docs/architecture.md has a '## Floors' table");
    for line in table.lines().take_while(|l| !l.starts_with("## ")) {
        let cells: Vec<&str> = line.split('|').map(str::trim).collect();
        if cells.len() < 4 {
            continue;
        }
        let Ok(floor) = cells[1].parse::<u32>() else {
            continue;
        };
        for room in cells[2].split('`').skip(1).step_by(2) {
            assert!(
                out.insert(room.to_string(), floor).is_none(),
                "{room} is on two floors"
            );
        }
    }
    out
}

/// The operations that run another whole, from the doc's "Within the operations" table.
fn compositions(doc: &str) -> BTreeSet<(String, String)> {
    let part = doc
        .split("## Within the operations")
        .nth(1)
        .expect("docs/architecture.md has a 'Within the operations' section");
    part.lines()
        .filter_map(|l| {
            let cells: Vec<&str> = l.split('|').map(str::trim).collect();
            let name = |c: &str| c.split('`').nth(1).map(str::to_string);
            Some((name(cells.get(1)?)?, name(cells.get(2)?)?))
        })
        .collect()
}

#[test]
fn every_arrow_points_down() {
    let src = root().join("src");
    let mods = modules(&src);
    let doc = std::fs::read_to_string(root().join("docs/architecture.md")).unwrap();
    let floors = floors(&doc);
    let composed = compositions(&doc);
    assert!(floors.len() > 20, "{floors:?}");
    assert!(composed.contains(&("backup".into(), "repair".into())));
    // The shared floor of the operations.
    let shared = ["ops", "ops::catalog"];

    let room_of = |m: &str| m.split("::").next().unwrap().to_string();
    let mut wrong = Vec::new();
    let mut edges = 0;
    for (module, (path, text)) in &mods {
        if is_test_module(module) {
            continue;
        }
        let room = room_of(module);
        let Some(&floor) = floors.get(&room) else {
            wrong.push(format!(
                "{}: room {room} is not in docs/architecture.md",
                path.display()
            ));
            continue;
        };
        let segs: Vec<String> = module.split("::").map(str::to_string).collect();
        for p in paths(&production_text(text), &segs) {
            // The longest module the path names.
            let Some(target) = (1..=p.len())
                .rev()
                .map(|n| p[..n].join("::"))
                .find(|m| mods.contains_key(m))
            else {
                continue;
            };
            if target == *module || module.starts_with(&format!("{target}::")) {
                continue; // itself, or a parent module (a child's own room)
            }
            edges += 1;
            let to_room = room_of(&target);
            if to_room == room {
                // Inside a room: the operations keep to their own files.
                if room == "ops"
                    && !shared.contains(&target.as_str())
                    && !shared.contains(&module.as_str())
                {
                    let (from, to) = (
                        module.trim_start_matches("ops::").to_string(),
                        target.trim_start_matches("ops::").to_string(),
                    );
                    if !composed.contains(&(from.clone(), to.clone())) {
                        wrong.push(format!(
                            "{}: operation {from} reaches into operation {to}",
                            path.display()
                        ));
                    }
                }
                continue;
            }
            let Some(&to_floor) = floors.get(&to_room) else {
                wrong.push(format!(
                    "{}: uses {target}, whose room is not in docs/architecture.md",
                    path.display()
                ));
                continue;
            };
            if to_floor >= floor {
                wrong.push(format!(
                    "{}: {room} (floor {floor}) uses {target} (floor {to_floor}): arrows point down",
                    path.display()
                ));
            }
        }
    }
    assert!(edges > 300, "the scan found only {edges} edges");
    wrong.sort();
    wrong.dedup();
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
}

/// The checker itself: a sideways and an upward import are found, a downward one is not.
#[test]
fn the_layering_check_sees_wrong_way_imports() {
    let m = |s: &str| s.split("::").map(str::to_string).collect::<Vec<_>>();
    let text = "use crate::report::human;\nuse super::{check::{self, X}, Ctx};\nfn f() { crate::format::bytes(1); let u = \"http://x\"; }";
    let found = paths(&production_text(text), &m("ops::backup"));
    assert!(found.contains(&m("report::human")), "{found:?}");
    assert!(found.contains(&m("ops::check")), "{found:?}");
    assert!(found.contains(&m("ops::Ctx")), "{found:?}");
    assert!(found.contains(&m("format::bytes")), "{found:?}");
    assert_eq!(
        paths(
            &production_text("let a = my_crate::x; // crate::y"),
            &m("a")
        ),
        Vec::<Vec<String>>::new()
    );
}

#[test]
fn the_layout_doc_names_every_module() {
    let lib = std::fs::read_to_string(root().join("src/lib.rs")).unwrap();
    let declared: BTreeSet<String> = lib
        .lines()
        .filter_map(|l| l.trim().strip_prefix("pub mod "))
        .map(|l| l.trim_end_matches(';').to_string())
        .collect();
    let on_disk: BTreeSet<String> = modules(&root().join("src"))
        .keys()
        .filter(|m| !m.contains("::"))
        .cloned()
        .collect();
    assert_eq!(declared, on_disk, "pub mod lines of src/lib.rs vs src/");
    let named: BTreeSet<String> = lib
        .lines()
        .filter_map(|l| l.strip_prefix("//! - "))
        .filter_map(|l| l.split('`').nth(1))
        .map(str::to_string)
        .collect();
    assert_eq!(named, on_disk, "src/lib.rs's layout doc vs the modules");
    let doc = std::fs::read_to_string(root().join("docs/architecture.md")).unwrap();
    let mut rooms: BTreeSet<String> = floors(&doc).into_keys().collect();
    rooms.insert("testutil".into());
    assert_eq!(
        rooms, on_disk,
        "docs/architecture.md's floors vs the modules"
    );
}

#[test]
fn the_integration_test_list_names_every_suite() {
    let dir = root().join("tests/integration");
    let main = std::fs::read_to_string(dir.join("main.rs")).unwrap();
    let suites: BTreeSet<String> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "rs"))
        .map(|p| p.file_stem().unwrap().to_string_lossy().into_owned())
        .filter(|s| s != "main")
        .collect();
    let declared: BTreeSet<String> = main
        .lines()
        .filter_map(|l| l.strip_prefix("mod "))
        .map(|l| l.trim_end_matches(';').to_string())
        .collect();
    assert_eq!(declared, suites, "mod lines of main.rs vs the files");
    let listed: BTreeSet<String> = main
        .lines()
        .filter_map(|l| l.strip_prefix("//! - "))
        .flat_map(|l| {
            l.split(':')
                .next()
                .unwrap_or_default()
                .split('`')
                .skip(1)
                .step_by(2)
                .map(str::to_string)
                .collect::<Vec<_>>()
        })
        .collect();
    assert_eq!(listed, suites, "the list in main.rs's doc vs the files");
}

/// Issue 27: errors are typed below the command line — no function in `src/` outside `cli/`
/// returns `Result<_, String>` (the words are made where they are shown).
#[test]
fn no_string_errors_below_the_command_line() {
    let re = regex::Regex::new(r"->\s*(?:std::result::)?Result<[^{;]*?,\s*String>\s*(?:\{|where)")
        .unwrap();
    assert!(re.is_match("fn f(x: u8) -> Result<(), String> {"));
    assert!(re.is_match("fn f(\n    x: u8,\n) -> Result<Vec<u8>, String>\nwhere"));
    assert!(!re.is_match("fn f() -> Result<String, Error> {"));
    let mut found = Vec::new();
    for (module, (path, text)) in modules(&root().join("src")) {
        if is_test_module(&module) || module == "cli" || module.starts_with("cli::") {
            continue;
        }
        for m in re.find_iter(&production_text(&text)) {
            found.push(format!(
                "{}: {}",
                path.display(),
                m.as_str().replace('\n', " ")
            ));
        }
    }
    assert!(found.is_empty(), "{}", found.join("\n"));
}

/// Issue 27: no production function is over 100 lines (a long one is a room missing).
#[test]
fn no_function_is_over_100_lines() {
    let head = regex::Regex::new(r"^(\s*)(?:pub(?:\([a-z]+\))? )?(?:async )?fn (\w+)").unwrap();
    let mut long = Vec::new();
    let mut functions = 0;
    for (module, (path, text)) in modules(&root().join("src")) {
        if is_test_module(&module) {
            continue;
        }
        let cut = text.find("#[cfg(test)]\nmod ").unwrap_or(text.len());
        let lines: Vec<&str> = text[..cut].lines().collect();
        let mut i = 0;
        while i < lines.len() {
            let Some(c) = head.captures(lines[i]) else {
                i += 1;
                continue;
            };
            let indent = c[1].len();
            let close = format!("{}}}", " ".repeat(indent));
            // A declaration without a body (a trait's) ends at its `;`.
            if lines[i].trim_end().ends_with(';') {
                i += 1;
                continue;
            }
            let end = (i + 1..lines.len())
                .find(|&j| lines[j].trim_end() == close)
                .unwrap_or(lines.len() - 1);
            functions += 1;
            if end - i + 1 > 100 {
                long.push(format!(
                    "{}:{} fn {} is {} lines",
                    path.display(),
                    i + 1,
                    &c[2],
                    end - i + 1
                ));
            }
            i = end + 1;
        }
    }
    assert!(functions > 500, "the scan found only {functions} functions");
    assert!(long.is_empty(), "{}", long.join("\n"));
}

/// Issue 27: no operation reads the clock except through its context (`Ctx::now`,
/// `Ctx::stopwatch`), so that tests move time for every operation alike.
#[test]
fn operations_read_the_clock_only_through_their_context() {
    let clock =
        regex::Regex::new(r"\b(?:Utc::now|Local::now|SystemTime::now|Instant::now|UNIX_EPOCH)\b")
            .unwrap();
    let mut found = Vec::new();
    for (module, (path, text)) in modules(&root().join("src")) {
        if !module.starts_with("ops::") || is_test_module(&module) {
            continue;
        }
        for (n, line) in production_text(&text).lines().enumerate() {
            if clock.is_match(line) {
                found.push(format!("{}:{}: {}", path.display(), n + 1, line.trim()));
            }
        }
    }
    assert!(found.is_empty(), "{}", found.join("\n"));
    let ops = std::fs::read_to_string(root().join("src/ops/mod.rs")).unwrap();
    assert!(
        clock.is_match(&production_text(&ops)),
        "the context itself reads the clock"
    );
}
