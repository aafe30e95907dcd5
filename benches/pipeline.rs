//! Speed of the pure pipeline on a large schema: diff + rule evaluation.
//!
//! Two trees of a 2,000-table schema (≈200k leaves) that differ in a few hundred places are
//! diffed and evaluated with the built-in rules. Prints the figures and writes them to
//! `target/bench/pipeline.txt`. Run with `cargo bench --bench pipeline`.

use std::time::{Duration, Instant};

use driftwarden::diff::diff;
use driftwarden::rules::{PairContext, RuleSet};
use driftwarden::snapshot::{Node, Tree};

const TABLES: usize = 2_000;
const COLUMNS: usize = 12;

fn schema(drift: bool) -> Tree {
    let mut tree = Node::map();
    for t in 0..TABLES {
        let table = tree
            .entry("schema")
            .entry("tables")
            .entry(&format!("public.table_{t:05}"));
        for c in 0..COLUMNS {
            let column = table.entry("columns").entry(&format!("column_{c:02}"));
            let changed = drift && t % 10 == 0 && c == 3;
            column.insert("type", if changed { "bigint" } else { "integer" });
            column.insert("nullable", c % 2 == 0);
            column.insert("default", Node::Null);
            column.insert("position", c as i64);
            column.insert("collation", "default");
            column.insert("generated", Node::Null);
        }
        if !(drift && t % 50 == 0) {
            let index = table.entry("indexes").entry(&format!("table_{t:05}_pkey"));
            index.insert("columns", vec!["column_00"]);
            index.insert("unique", true);
        }
        let rows = if drift {
            1_000 + (t as i64 % 7) * 20
        } else {
            1_000
        };
        tree.entry("rows")
            .insert(format!("public.table_{t:05}"), rows);
    }
    tree
}

fn time<T>(runs: u32, mut f: impl FnMut() -> T) -> (Duration, T) {
    let mut best = Duration::MAX;
    let mut last = None;
    for _ in 0..runs {
        let start = Instant::now();
        last = Some(f());
        best = best.min(start.elapsed());
    }
    (best, last.unwrap_or_else(|| unreachable!("runs > 0")))
}

fn main() {
    let baseline = schema(false);
    let candidate = schema(true);
    let rules = RuleSet::load(&[], true).unwrap_or_else(|e| panic!("built-in rules: {e}"));
    let ctx = PairContext {
        pair: "bench",
        baseline: "production",
        candidate: "staging",
        source: "db",
    };
    let today = chrono::NaiveDate::from_ymd_opt(2026, 1, 1).unwrap_or_default();

    let (diff_time, changes) = time(5, || diff(&baseline, &candidate));
    let (eval_time, evaluation) = time(5, || {
        rules.evaluate(&ctx, &baseline, &candidate, &changes, today)
    });
    let (hash_time, _) = time(5, || driftwarden::snapshot::hash::content_hash(&candidate));

    let ms = |d: Duration| d.as_secs_f64() * 1e3;
    let report = format!(
        "leaves per tree: {}\nchanges: {}, verdicts: {}\ndiff:     {:>8.2} ms (best of 5)\nevaluate: {:>8.2} ms (best of 5)\nhash:     {:>8.2} ms (best of 5)\n",
        baseline.leaf_count(),
        changes.len(),
        evaluation.verdicts.len(),
        ms(diff_time),
        ms(eval_time),
        ms(hash_time)
    );
    print!("{report}");
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("target/bench");
    if std::fs::create_dir_all(&dir).is_ok()
        && std::fs::write(dir.join("pipeline.txt"), &report).is_ok()
    {
        println!("written to target/bench/pipeline.txt");
    }
}
