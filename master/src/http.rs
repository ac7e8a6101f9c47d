//! The master's HTTP API (actix-web), for workers and people. Versioned under `/v1/`;
//! every call needs the shared token (`Authorization: Bearer <token>`), compared in
//! constant time, except `/healthz`. Bodies are size-limited, and malformed JSON gets a
//! 400 that says why. ARCHITECTURE.md lists every endpoint.
use std::sync::Arc;

use actix::Addr;
use actix_web::body::MessageBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::middleware::{from_fn, Next};
use actix_web::{error, web, App, HttpResponse, HttpServer};
use serde::Serialize;
use serde_json::json;
use subtle::ConstantTimeEq;
use wattswarm_core::protocol::{Endpoint, Heartbeat, LeaseRequest, Leave, Register, Report, WorkerRef};

use crate::actor::{GetStatus, MasterActor, RenderMetrics};

/// Largest request body accepted (a chunk report is a few hundred KiB at most).
pub const MAX_BODY: usize = 16 << 20;

/// The shared token. Its `Debug` never shows it.
#[derive(Clone)]
pub struct Token(Arc<str>);

impl Token {
    pub fn new(s: &str) -> Token {
        Token(s.trim().into())
    }

    fn matches(&self, header: Option<&[u8]>) -> bool {
        let want = format!("Bearer {}", self.0);
        match header {
            Some(h) => h.ct_eq(want.as_bytes()).into(),
            None => false,
        }
    }
}

impl std::fmt::Debug for Token {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Token(<redacted>)")
    }
}

#[derive(Clone)]
struct State {
    master: Addr<MasterActor>,
    /// The job this master runs: it never changes for the life of the process.
    job_id: Arc<str>,
    token: Token,
}

fn unavailable(e: actix::MailboxError) -> error::Error {
    error::ErrorServiceUnavailable(json!({ "error": format!("the master is shutting down: {e}") }).to_string())
}

/// A request of a worker of some job: refused with 409 unless it is this master's.
fn check_job(s: &State, from: &WorkerRef) -> Result<(), error::Error> {
    if *s.job_id != from.job_id {
        return Err(error::ErrorConflict(
            json!({ "error": "this master runs another job now: register again" }).to_string(),
        ));
    }
    Ok(())
}

/// The protocol's requests that name their job.
trait OfJob {
    fn from(&self) -> &WorkerRef;
}

macro_rules! of_job {
    ($($t:ty),*) => {$(impl OfJob for $t { fn from(&self) -> &WorkerRef { &self.from } })*};
}
of_job!(LeaseRequest, Heartbeat, Leave);

/// Hands a worker's request, as it came, to the master actor, and its answer back as JSON.
async fn ask<M>(s: web::Data<State>, body: web::Json<M>) -> actix_web::Result<HttpResponse>
where
    M: OfJob + actix::Message + Send + 'static,
    M::Result: Serialize + Send,
    MasterActor: actix::Handler<M>,
{
    check_job(&s, body.from())?;
    let reply = s.master.send(body.into_inner()).await.map_err(unavailable)?;
    Ok(HttpResponse::Ok().json(reply))
}

async fn register(s: web::Data<State>, body: web::Json<Register>) -> actix_web::Result<HttpResponse> {
    let info = s.master.send(body.into_inner()).await.map_err(unavailable)?;
    Ok(HttpResponse::Ok().json(info))
}

/// A report refused by the master is answered 400 with the reason.
async fn report(s: web::Data<State>, body: web::Json<Report>) -> actix_web::Result<HttpResponse> {
    check_job(&s, &body.from)?;
    s.master
        .send(body.into_inner())
        .await
        .map_err(unavailable)?
        .map_err(|refused| error::ErrorBadRequest(json!({ "error": format!("report refused: {refused}") }).to_string()))?;
    Ok(HttpResponse::Ok().json(json!({})))
}

async fn job(s: web::Data<State>) -> actix_web::Result<HttpResponse> {
    Ok(HttpResponse::Ok().json(s.master.send(GetStatus).await.map_err(unavailable)?))
}

async fn metrics(s: web::Data<State>) -> actix_web::Result<HttpResponse> {
    let text = s.master.send(RenderMetrics).await.map_err(unavailable)?;
    Ok(HttpResponse::Ok().content_type("text/plain; version=0.0.4").body(text))
}

/// The longest a request may take, its body included. actix-web bounds the wait for the
/// headers; a peer that then sends its body a byte at a time would hold a connection (and
/// a worker thread's slot) for as long as it liked.
pub const REQUEST_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(10);

async fn deadline(req: ServiceRequest, next: Next<impl MessageBody + 'static>) -> actix_web::Result<ServiceResponse<impl MessageBody>> {
    match tokio::time::timeout(REQUEST_TIMEOUT, next.call(req)).await {
        Ok(r) => Ok(r?.map_into_boxed_body()),
        Err(_) => Err(error::ErrorRequestTimeout(
            json!({ "error": format!("the request took more than {} s", REQUEST_TIMEOUT.as_secs()) }).to_string(),
        )),
    }
}

async fn auth(req: ServiceRequest, next: Next<impl MessageBody + 'static>) -> actix_web::Result<ServiceResponse<impl MessageBody>> {
    if req.path() != "/healthz" {
        let token = &req.app_data::<web::Data<State>>().expect("state is registered").token;
        let header = req.headers().get("authorization").map(|h| h.as_bytes());
        if !token.matches(header) {
            return Err(error::ErrorUnauthorized(
                json!({ "error": "missing or wrong token: send Authorization: Bearer <WATTSWARM_TOKEN>" }).to_string(),
            ));
        }
    }
    Ok(next.call(req).await?.map_into_boxed_body())
}

fn json_error(err: error::JsonPayloadError, _: &actix_web::HttpRequest) -> error::Error {
    let status = match &err {
        error::JsonPayloadError::Overflow { .. } | error::JsonPayloadError::OverflowKnownLength { .. } => {
            actix_web::http::StatusCode::PAYLOAD_TOO_LARGE
        }
        _ => actix_web::http::StatusCode::BAD_REQUEST,
    };
    error::InternalError::from_response(
        err.to_string(),
        HttpResponse::build(status).json(json!({ "error": format!("bad request body: {err}") })),
    )
    .into()
}

/// The API on `listener`; returns the server, to be spawned.
pub fn server(master: Addr<MasterActor>, job_id: &str, token: Token, listener: std::net::TcpListener) -> std::io::Result<actix_web::dev::Server> {
    let state = State {
        master,
        job_id: job_id.into(),
        token,
    };
    let http = HttpServer::new(move || {
        App::new()
            .app_data(web::Data::new(state.clone()))
            .app_data(web::JsonConfig::default().limit(MAX_BODY).error_handler(json_error))
            .app_data(web::PayloadConfig::default().limit(MAX_BODY))
            .wrap(from_fn(auth))
            .wrap(from_fn(deadline))
            .route("/healthz", web::get().to(|| async { HttpResponse::Ok().body("ok\n") }))
            .route("/metrics", web::get().to(metrics))
            .route(Register::PATH, web::post().to(register))
            .route(LeaseRequest::PATH, web::post().to(ask::<LeaseRequest>))
            .route(Heartbeat::PATH, web::post().to(ask::<Heartbeat>))
            .route(Report::PATH, web::post().to(report))
            .route(Leave::PATH, web::post().to(ask::<Leave>))
            .route("/v1/job", web::get().to(job))
    })
    .workers(2)
    .disable_signals()
    .shutdown_timeout(5)
    .listen(listener)?;
    Ok(http.run())
}
