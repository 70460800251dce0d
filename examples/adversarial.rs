//! Writes the adversarial fixtures (one per resource limit) to
//! fixtures/adversarial/, and the hostile captures of issue 18 beside them. Run: `cargo run --release --example adversarial`.
//!
//! `-- --syn-flood N FILE` writes the SYN-flood capture instead (N SYNs to
//! distinct ports, then one good call), which is too large to commit.

use grpcscope::synth::adversarial::{syn_flood, FIXTURES};
use grpcscope::synth::hostile::CASES;
use std::path::Path;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if let [flag, n, file] = args.as_slice() {
        if flag == "--syn-flood" {
            std::fs::write(file, syn_flood(n.parse()?))?;
            return Ok(());
        }
    }
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/adversarial");
    std::fs::create_dir_all(&dir)?;
    for f in FIXTURES {
        let bytes = (f.build)();
        std::fs::write(dir.join(f.file), &bytes)?;
        println!("{:<28} {:>9} bytes  ({}: {})", f.file, bytes.len(), f.limit, f.code);
    }
    for c in CASES {
        let bytes = (c.build)();
        std::fs::write(dir.join(c.file), &bytes)?;
        println!("{:<28} {:>9} bytes  ({})", c.file, bytes.len(), c.attack);
    }
    Ok(())
}
