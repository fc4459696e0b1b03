//! The `sua-analytics` binary: `serve` (default) or `migrate`.

#[tokio::main]
async fn main() -> std::process::ExitCode {
    sua_db::service::run_binary("sua-analytics", sua_analytics::SERVICE, sua_db::service::Needs::DatabaseAndBroker, |config, deps, shutdown| async move {
        sua_analytics::build(&config, deps).await?.run_until_stopped(shutdown).await
    })
    .await
}
