//! The TPC-H data the benchmarks share: the demo generator's tables, and domain files that
//! publish its baseline Parquet copies.
#![allow(dead_code)]

use std::path::{Path, PathBuf};

/// (product, table) for every TPC-H table, as the demo generator lays them out.
pub fn tables() -> impl Iterator<Item = (&'static str, &'static str)> {
    meshgate_demo::DOMAINS
        .iter()
        .flat_map(|d| d.tables.iter().map(move |t| (d.name, t.name())))
}

pub fn arg(name: &str) -> Option<String> {
    let args: Vec<String> = std::env::args().collect();
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1).cloned())
}

/// Domain files that publish the baseline Parquet copies as the same three products.
pub fn baseline_domains(baseline: &Path, out: &Path) -> PathBuf {
    let dir = out.join("baseline-domains");
    std::fs::create_dir_all(&dir).expect("mkdir");
    for product in ["sales", "supply", "geo"] {
        let mut text = format!(
            "name = \"{product}\"\n[storage]\nroot = \"{}\"\n[[products]]\nname = \"{product}\"\n",
            baseline.display()
        );
        for (_, t) in tables().filter(|(p, _)| *p == product) {
            text += &format!(
                "[[products.tables]]\nname = \"{t}\"\nformat = \"parquet\"\nlocation = \"{t}\"\n"
            );
        }
        std::fs::write(dir.join(format!("{product}.toml")), text).expect("write domain");
    }
    dir
}

/// The demo generator's TPC-H data at scale factor `sf`, under `--dir` (default
/// `target/bench-tpch-sf{sf}`); files already there are reused.
pub async fn generated(sf: f64) -> (PathBuf, meshgate_demo::DemoLayout) {
    let dir = PathBuf::from(arg("--dir").unwrap_or_else(|| format!("target/bench-tpch-sf{sf}")));
    std::fs::create_dir_all(&dir).expect("mkdir");
    let dir = std::path::absolute(&dir).expect("abs");
    eprintln!(
        "generating TPC-H SF {sf} under {} (reused when present)…",
        dir.display()
    );
    let layout = meshgate_demo::generate(&meshgate_demo::DemoOptions {
        dir: dir.clone(),
        scale_factor: sf,
    })
    .await
    .expect("generate");
    (dir, layout)
}
