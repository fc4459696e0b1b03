//! The `sua-collector` binary: `serve` (default) or `migrate`.

use std::process::ExitCode;

use clap::Parser;

#[derive(Parser)]
#[command(name = "sua-collector", version, about = "sua collector service")]
struct Cli {
    #[command(flatten)]
    args: sua_db::service::ServiceArgs,
}

#[tokio::main]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    let result =
        sua_db::service::main(
            sua_collector::SERVICE,
            sua_db::service::Needs::DatabaseAndBroker,
            cli.args,
            |config, deps, shutdown| async move {
                sua_collector::build(&config, deps).await?.run_until_stopped(shutdown).await
            },
        )
        .await;
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("sua-collector: {error:#}");
            ExitCode::FAILURE
        }
    }
}
