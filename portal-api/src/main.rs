//! The `sua-portal-api` binary: `serve` (default) or `migrate`.

#[tokio::main]
async fn main() -> std::process::ExitCode {
    sua_db::service::run_binary(
        "sua-portal-api",
        sua_portal_api::SERVICE,
        sua_db::service::Needs::Database,
        |config, deps, shutdown| async move {
            sua_portal_api::build(&config, deps).await?.run_until_stopped(shutdown).await
        },
    )
    .await
}
