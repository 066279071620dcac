use std::process::ExitCode;

use clap::Parser;

use modalplan::cli::{Cli, ColorChoice};
use modalplan::exit::ExitStatus;
use modalplan::printer;

/// mimalloc: validating and planning a large manifest is mostly allocation (docs/benchmarks.md).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> ExitCode {
    // Under GitHub Actions, registry credentials are masked before anything could print them.
    modalplan::github::actions::mask_environment_credentials();
    let cli = Cli::parse();
    modalplan::settings::set_color(cli.color);
    match cli.color {
        ColorChoice::Always => anstream::ColorChoice::Always.write_global(),
        ColorChoice::Never => anstream::ColorChoice::Never.write_global(),
        ColorChoice::Auto => {}
    }
    init_tracing(cli.verbose);
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(error) => {
            printer::stderr(&format!(
                "error: could not start the async runtime: {error}\n"
            ));
            return ExitStatus::Failure.into();
        }
    };
    let outcome = runtime.block_on(modalplan::commands::run(cli));
    // Not waiting for a blocking read of the terminal that an interrupt left behind.
    runtime.shutdown_background();
    match outcome {
        Ok(status) => status.into(),
        Err(error) => {
            let status = error.exit_status();
            printer::stderr(&format!("{:?}\n", miette::Report::new(error)));
            status.into()
        }
    }
}

fn init_tracing(verbose: u8) {
    let default = match verbose {
        0 => "warn",
        1 => "modalplan=info",
        _ => "modalplan=debug",
    };
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .without_time()
        .init();
}
