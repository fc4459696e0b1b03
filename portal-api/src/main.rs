//! The `sua-portal-api` binary: `serve` (default) or `migrate`.

use std::process::ExitCode;

use clap::Parser;

#[derive(Parser)]
#[command(name = "sua-portal-api", version, about = "sua portal-api service")]
struct Cli {
    #[command(flatten)]
    args: sua_db::service::ServiceArgs,
}

#[tokio::main]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = sua_db::service::main(
        sua_portal_api::SERVICE,
        sua_db::service::Needs::Database,
        cli.args,
        |config, deps, shutdown| async move {
            sua_portal_api::build(&config, deps).await?.run_until_stopped(shutdown).await
        },
    )
    .await;
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("sua-portal-api: {error:#}");
            ExitCode::FAILURE
        }
    }
}
