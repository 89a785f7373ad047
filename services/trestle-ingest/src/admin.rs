//! Routes of the admin listener (`[admin_http]`, loopback by default): company registration for
//! operators and the back office, never for upstream apps, which reach only the main listener.

use std::sync::Arc;

use axum::extract::rejection::JsonRejection;
use axum::extract::{DefaultBodyLimit, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::{Deserialize, Serialize};
use trestle_events::{Event, Region};
use trestle_kafka::EventProducer;
use trestle_tenants::{RegionTable, RegistrationRequest};
use uuid::Uuid;

use crate::api::{guarded, log_unavailable, method_not_allowed, no_route, reject, reject_body};
use crate::auth::Authenticator;

/// Largest accepted body on the admin listener (a registration is a few hundred bytes).
const MAX_BODY_BYTES: usize = 16 * 1024;

/// Shared state of the admin handlers.
#[derive(Clone)]
pub struct AdminState {
    producer: EventProducer,
    regions: Arc<RegionTable>,
    auth: Authenticator,
}

impl AdminState {
    pub fn new(producer: EventProducer, regions: RegionTable, auth: Authenticator) -> Self {
        AdminState {
            producer,
            auth,
            regions: Arc::new(regions),
        }
    }
}

/// The answer to a registration: the new company and the region it was placed in.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Registered {
    pub company_id: Uuid,
    pub region: Region,
    /// Always `registered`.
    pub status: String,
}

/// The admin routes: registration needs the platform scope `admin`; `/healthz` is open.
pub fn admin_router(state: AdminState) -> Router {
    let auth = state.auth.clone();
    Router::new()
        .route(
            "/v1/companies",
            guarded(&auth, trestle_apikeys::Scope::Admin, post(register_company)),
        )
        .route("/healthz", get(|| async { "ok" }))
        .fallback(no_route)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(DefaultBodyLimit::max(MAX_BODY_BYTES))
        .with_state(state)
}

/// `POST /v1/companies`: validates the sign-up, places it in its country's region, publishes
/// `CompanyRegistered` to `tenants` and answers 201 once the broker acknowledged it.
async fn register_company(
    State(state): State<AdminState>,
    body: Result<Json<RegistrationRequest>, JsonRejection>,
) -> Response {
    let request = match body {
        Ok(Json(r)) => r,
        Err(rejection) => return reject_body(rejection, MAX_BODY_BYTES, ""),
    };
    let registration = match request.validate() {
        Ok(r) => r,
        Err(invalid) => {
            return reject(
                StatusCode::UNPROCESSABLE_ENTITY,
                "invalid_field",
                invalid.to_string(),
            )
        }
    };
    let registered = match registration.into_event(&state.regions) {
        Ok(e) => e,
        Err(unknown) => {
            return reject(
                StatusCode::UNPROCESSABLE_ENTITY,
                "unknown_country",
                unknown.to_string(),
            )
        }
    };
    let answer = Registered {
        company_id: registered.meta.company_id,
        region: registered.region,
        status: "registered".into(),
    };
    let event = Event::CompanyRegistered(registered);
    match state.producer.publish(&event).await {
        Ok(_) => {
            trestle_telemetry::event_published(event.name());
            tracing::info!(
                message = "Company registered.",
                company_id = %answer.company_id,
                region = %answer.region
            );
            (StatusCode::CREATED, Json(answer)).into_response()
        }
        Err(error) => log_unavailable("registration", error),
    }
}
