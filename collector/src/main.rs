//! The `sua-collector` binary: `serve` (default) or `migrate`.

#[tokio::main]
async fn main() -> std::process::ExitCode {
    sua_db::service::run_binary("sua-collector", sua_collector::SERVICE, sua_db::service::Needs::DatabaseAndBroker, |config, deps, shutdown| async move {
        sua_collector::build(&config, deps).await?.run_until_stopped(shutdown).await
    })
    .await
}
