//! The `ecs-scaler` binary: parses the command line and hands over to the library.

use std::process::ExitCode;

use clap::Parser;
use ecs_scaler::cli::{self, Cli, Command};

fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
        Command::Validate(args) => cli::validate(&args),
        Command::Simulate(args) => cli::simulate(&args),
        Command::Import(args) => ecs_scaler::import::run(&args),
        Command::Doctor(args) => ecs_scaler::doctor::run(&args),
        Command::Crd => {
            print!("{}", ecs_scaler::kubernetes::crd::crd_yaml());
            ExitCode::SUCCESS
        }
        Command::Serve(args) => {
            ecs_scaler::telemetry::init_logging();
            let runtime = match tokio::runtime::Runtime::new() {
                Ok(runtime) => runtime,
                Err(error) => {
                    eprintln!("cannot start the async runtime: {error}");
                    return ExitCode::FAILURE;
                }
            };
            let kubernetes = args.kubernetes;
            match runtime.block_on(ecs_scaler::serve::serve_with(args.into(), kubernetes)) {
                Ok(()) => ExitCode::SUCCESS,
                Err(error) if error.is_bad_input() => {
                    eprintln!("error: {error}");
                    ExitCode::from(cli::EXIT_BAD_INPUT)
                }
                Err(error) => {
                    eprintln!("error: {error}");
                    ExitCode::FAILURE
                }
            }
        }
    }
}
