//! The accept loop. It is hand-rolled (not `axum::serve`) for one reason:
//! the "dropped connection" fault must close a socket without answering,
//! which only the code that owns the connection can do.

use std::convert::Infallible;
use std::sync::Arc;

use axum::Router;
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper_util::rt::TokioIo;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{Notify, watch};
use tower::ServiceExt as _;

use crate::RequestRecord;
use crate::api::{DropConnection, endpoint_name};
use crate::shared::Shared;

pub(crate) async fn serve(
    listener: TcpListener,
    app: Router,
    shared: Arc<Shared>,
    mut shutdown: watch::Receiver<bool>,
) {
    let mut connections = tokio::task::JoinSet::new();
    loop {
        tokio::select! {
            accepted = listener.accept() => {
                let Ok((stream, _)) = accepted else {
                    // Out of file descriptors and the like: back off briefly.
                    tokio::time::sleep(std::time::Duration::from_millis(10)).await;
                    continue;
                };
                let _ = stream.set_nodelay(true);
                connections.spawn(connection(stream, app.clone(), shared.clone(), shutdown.clone()));
            }
            _ = shutdown.changed() => break,
            Some(_) = connections.join_next(), if !connections.is_empty() => {}
        }
    }
    connections.abort_all();
}

async fn connection(
    stream: TcpStream,
    app: Router,
    shared: Arc<Shared>,
    mut shutdown: watch::Receiver<bool>,
) {
    let kill = Arc::new(Notify::new());
    let kill_for_service = kill.clone();
    let service = hyper::service::service_fn(move |mut req: hyper::Request<Incoming>| {
        let app = app.clone();
        let kill = kill_for_service.clone();
        let shared = shared.clone();
        async move {
            normalize_path(&mut req);
            let method = req.method().to_string();
            let path = req.uri().path().to_owned();
            let query = req.uri().query().map(str::to_owned);
            let resp = match app.oneshot(req).await {
                Ok(r) => r,
                Err(never) => match never {},
            };
            let dropped = resp.extensions().get::<DropConnection>().is_some();
            shared.record_request(RequestRecord {
                method,
                endpoint: endpoint_name(&path),
                path,
                query,
                status: if dropped { 0 } else { resp.status().as_u16() },
                dropped,
            });
            if dropped {
                kill.notify_one();
                std::future::pending::<()>().await;
            }
            Ok::<_, Infallible>(resp)
        }
    });
    let conn = http1::Builder::new().serve_connection(TokioIo::new(stream), service);
    tokio::select! {
        _ = conn => {}
        () = kill.notified() => {}
        _ = shutdown.changed() => {}
    }
}

/// Official clients send `/students/` and others `/students`: serve both.
fn normalize_path(req: &mut hyper::Request<Incoming>) {
    let path = req.uri().path();
    if path.len() <= 1 || !path.ends_with('/') {
        return;
    }
    let trimmed = path.trim_end_matches('/');
    let rebuilt = match req.uri().query() {
        Some(q) => format!("{trimmed}?{q}"),
        None => trimmed.to_owned(),
    };
    if let Ok(uri) = rebuilt.parse() {
        *req.uri_mut() = uri;
    }
}
