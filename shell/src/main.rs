//! The `fjq` binary: the interactive shell, batch mode and the generator, over fjq's engine.

mod generate;

use clap::{Parser, Subcommand};
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(Parser, Debug)]
#[command(
    name = "fjq",
    version,
    about = "SQL for the Data First family court - Cafcass linked dataset"
)]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Write a synthetic dataset (Parquet tables, dataset.json, _truth/).
    Generate {
        /// 1.0 is the full England and Wales volume (about 2.5 million cases).
        #[arg(long, default_value_t = 1.0)]
        scale: f64,
        #[arg(long, default_value_t = fjq_sample_data::DEFAULT_SEED)]
        seed: u64,
        #[arg(long)]
        out: PathBuf,
        #[arg(long)]
        quiet: bool,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
        Some(Command::Generate {
            scale,
            seed,
            out,
            quiet,
        }) => {
            match generate::run(&generate::GenerateArgs {
                scale,
                seed,
                out,
                quiet,
            }) {
                Ok(summary) => {
                    if !quiet {
                        print!("{}", generate::render_summary(&summary));
                    }
                    ExitCode::SUCCESS
                }
                Err(e) => {
                    eprintln!("fjq: {e:#}");
                    ExitCode::from(1)
                }
            }
        }
        None => ExitCode::SUCCESS,
    }
}
