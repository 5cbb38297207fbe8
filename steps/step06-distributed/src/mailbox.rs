//! `GET /api/v2/mailbox`: the messages the mailbox consumer wrote for the signed-in customer,
//! newest first, a page at a time (v2's `page` and `limit`). What a real shop would hand to a
//! mail service, made visible so a customer (and a test) can see an event's effect.

use axum::Router;
use axum::extract::{RawQuery, State};
use axum::routing::get;
use common::auth::AuthUser;
use common::error::Result;
use common::extract::Json;
use serde::Serialize;
use sqlx::PgPool;
use step02_apis::rest::{PageParams, Problem};
use time::OffsetDateTime;
use utoipa::{OpenApi, ToSchema};

use crate::saga::store::db;
use crate::startup::AppState;

pub const MAILBOX_PATH: &str = "/api/v2/mailbox";

pub fn router() -> Router<AppState> {
    Router::new().route(MAILBOX_PATH, get(list_messages))
}

/// One message about one of the customer's orders.
#[derive(Debug, Serialize, ToSchema)]
pub struct MessageV2 {
    pub order_id: String,
    pub subject: String,
    pub body: String,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct MessagePageV2 {
    pub items: Vec<MessageV2>,
    pub page: u64,
    pub limit: u64,
    pub total: u64,
}

/// The signed-in customer's messages, newest first.
#[utoipa::path(
    get,
    path = MAILBOX_PATH,
    tag = "orders",
    params(PageParams),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "A page of the customer's messages", body = MessagePageV2),
        (status = 400, description = "A malformed or unknown parameter", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "No valid access token", body = Problem, content_type = "application/problem+json"),
    )
)]
#[tracing::instrument(skip_all, fields(user = %user.id))]
pub async fn list_messages(
    State(pool): State<PgPool>,
    user: AuthUser,
    RawQuery(query): RawQuery,
) -> Result<Json<MessagePageV2>> {
    let page = PageParams::parse(query.as_deref())?;
    let user = user.id.to_string();
    let items = sqlx::query_as!(
        MessageV2,
        r#"SELECT order_id AS "order_id!", subject, body, created_at FROM mailbox
           WHERE user_id = $1::bpchar ORDER BY id DESC OFFSET $2 LIMIT $3"#,
        user,
        i64::try_from(page.skip()).unwrap_or(i64::MAX),
        i64::try_from(page.limit).unwrap_or(i64::MAX),
    )
    .fetch_all(&pool)
    .await
    .map_err(db("mailbox"))?;
    let total = sqlx::query_scalar!(
        r#"SELECT count(*) AS "count!" FROM mailbox WHERE user_id = $1::bpchar"#,
        user
    )
    .fetch_one(&pool)
    .await
    .map_err(db("mailbox"))?;
    Ok(Json(MessagePageV2 {
        items: items
            .into_iter()
            .map(|m| MessageV2 {
                order_id: m.order_id.trim().to_owned(),
                ..m
            })
            .collect(),
        page: page.page,
        limit: page.limit,
        total: u64::try_from(total).unwrap_or_default(),
    }))
}

#[derive(OpenApi)]
#[openapi(paths(list_messages), components(schemas(MessagePageV2, MessageV2)))]
struct MailboxDoc;

/// The mailbox's part of the OpenAPI document.
pub fn openapi() -> utoipa::openapi::OpenApi {
    MailboxDoc::openapi()
}
