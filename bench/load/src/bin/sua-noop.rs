//! The baseline of benchmark P1: an actix-web endpoint that reads the body and answers 202, nothing else.
//!   sua-noop --listen 127.0.0.1:9000

use actix_web::{App, HttpResponse, HttpServer, web};
use clap::Parser;

#[derive(Parser)]
struct Args {
    #[arg(long, default_value = "127.0.0.1:9000")]
    listen: std::net::SocketAddr,
}

async fn accept(_body: web::Bytes) -> HttpResponse {
    HttpResponse::Accepted().finish()
}

#[actix_web::main]
async fn main() -> std::io::Result<()> {
    let args = Args::parse();
    HttpServer::new(|| {
        App::new()
            .app_data(web::PayloadConfig::new(1024 * 1024))
            .route("/{tail:.*}", web::post().to(accept))
            .route("/{tail:.*}", web::get().to(HttpResponse::Ok))
    })
    .bind(args.listen)?
    .run()
    .await
}
