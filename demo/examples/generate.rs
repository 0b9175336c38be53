//! Generates the TPC-H mesh from the command line:
//! `cargo run --release -p meshgate-demo --example generate -- <dir> [scale-factor]`.

use std::time::Instant;

use meshgate_demo::{generate, DemoOptions};

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let dir = args.next().ok_or("usage: generate <dir> [scale-factor]")?;
    let scale_factor = args.next().map(|s| s.parse()).transpose()?.unwrap_or(0.1);

    let started = Instant::now();
    let layout = generate(&DemoOptions {
        dir: dir.into(),
        scale_factor,
    })
    .await?;
    let verb = if layout.generated {
        "generated"
    } else {
        "reused"
    };
    println!("{verb} SF {scale_factor} mesh in {:.1?}", started.elapsed());
    for (table, rows) in &layout.row_counts {
        println!("  {table:<9} {rows:>10} rows");
    }
    println!("domain files: {}", layout.domains_dir.display());
    println!("baseline:     {}", layout.baseline_dir.display());
    Ok(())
}
