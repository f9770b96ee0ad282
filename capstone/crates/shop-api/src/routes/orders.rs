//! Orders (book chapter 08, "Capstone step"): customers see their own, staff see all, and
//! every status change goes through the order state machine of `shop_domain::order`.
//!
//! | method and path | who | what |
//! | --- | --- | --- |
//! | `GET /orders?after=&limit=` | the customer | their orders, newest first |
//! | `GET /orders/{id}` | the customer | one of theirs, with lines and history (another's is 404) |
//! | `POST /orders/{id}/cancel` | the customer | cancels their order while it awaits payment |
//! | `GET /admin/orders?status=&after=&limit=` | `orders:list` | every order |
//! | `GET /admin/orders/{id}` | `orders:list` | any order |
//! | `POST /admin/orders/{id}/transitions` `{"action": "ship"}` | `orders:manage` | moves it on |
//!
//! A move the state machine forbids (shipping a cancelled order) is a 409 whose detail names
//! the order's status and the moves it allows, and nothing changes.

use axum::extract::State;
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::{Deserialize, Serialize};
use shop_db::{OrderDetail, OrderLineDetail, OrderSummary, Transition, TransitionError};
use shop_domain::order::{OrderAction, OrderStatus};
use shop_domain::{Money, OrderId, ProductId, Sku, UserId};
use time::OffsetDateTime;

use crate::auth::{CurrentUser, RequirePermission, perm};
use crate::error::ApiError;
use crate::extract::{Json as JsonBody, Path, Query};
use crate::security::headers::no_store;
use crate::state::AppState;

/// The most orders one page lists.
const MAX_PAGE: u32 = 100;

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/orders", get(mine))
        .route("/orders/{id}", get(one_of_mine))
        .route("/orders/{id}/cancel", post(cancel_mine))
        .route("/admin/orders", get(list_all))
        .route("/admin/orders/{id}", get(any))
        .route("/admin/orders/{id}/transitions", post(transition))
        .layer(no_store())
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OrderListParams {
    pub after: Option<OrderId>,
    pub limit: Option<u32>,
    /// Admin listing only.
    pub status: Option<OrderStatus>,
}

#[derive(Debug, Serialize)]
pub struct OrderListBody {
    pub orders: Vec<OrderSummaryBody>,
    /// Pass as `?after=` for the next page; `null` on the last.
    pub next_after: Option<OrderId>,
}

#[derive(Debug, Serialize)]
pub struct OrderSummaryBody {
    pub id: OrderId,
    pub customer: UserId,
    pub status: OrderStatus,
    pub total: Money,
    pub item_count: i64,
    #[serde(with = "time::serde::rfc3339")]
    pub placed_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339")]
    pub updated_at: OffsetDateTime,
}

#[derive(Debug, Serialize)]
pub struct OrderDetailBody {
    #[serde(flatten)]
    pub summary: OrderSummaryBody,
    pub lines: Vec<OrderLineBody>,
    pub history: Vec<TransitionBody>,
    /// What may happen next, so a client can offer exactly those buttons.
    pub allowed_actions: Vec<OrderAction>,
}

#[derive(Debug, Serialize)]
pub struct OrderLineBody {
    pub product_id: ProductId,
    pub sku: Sku,
    pub name: String,
    pub quantity: i32,
    pub unit_price: Money,
    pub line_total: Money,
}

#[derive(Debug, Serialize)]
pub struct TransitionBody {
    pub from: OrderStatus,
    pub to: OrderStatus,
    pub action: OrderAction,
    /// The staff member who made the change; `null` for the customer or the shop itself.
    pub actor: Option<UserId>,
    #[serde(with = "time::serde::rfc3339")]
    pub at: OffsetDateTime,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TransitionRequest {
    pub action: OrderAction,
}

/// `GET /orders`.
async fn mine(
    State(state): State<AppState>,
    CurrentUser(who): CurrentUser,
    Query(params): Query<OrderListParams>,
) -> Result<Json<OrderListBody>, ApiError> {
    if params.status.is_some() {
        return Err(ApiError::InvalidRequest {
            detail: "status filters the admin listing only".to_owned(),
        });
    }
    list(&state, Some(who.user_id), params).await
}

/// `GET /orders/{id}`: the caller's order; someone else's is "not found", not "forbidden".
async fn one_of_mine(
    State(state): State<AppState>,
    CurrentUser(who): CurrentUser,
    Path(id): Path<OrderId>,
) -> Result<Json<OrderDetailBody>, ApiError> {
    let order = state.orders.get_for(who.user_id, id).await?;
    let order = order.ok_or_else(|| ApiError::not_found("order", id))?;
    Ok(Json(order.into()))
}

/// `POST /orders/{id}/cancel`: the state machine decides; only a pending order can be
/// cancelled, a paid one is refunded by the staff.
async fn cancel_mine(
    State(state): State<AppState>,
    CurrentUser(who): CurrentUser,
    Path(id): Path<OrderId>,
) -> Result<Json<OrderDetailBody>, ApiError> {
    let moved = (state.orders)
        .transition(id, OrderAction::Cancel, None, Some(who.user_id))
        .await;
    after_transition(&state, id, moved).await
}

/// `GET /admin/orders`.
async fn list_all(
    State(state): State<AppState>,
    _caller: RequirePermission<perm::OrdersList>,
    Query(params): Query<OrderListParams>,
) -> Result<Json<OrderListBody>, ApiError> {
    list(&state, None, params).await
}

/// `GET /admin/orders/{id}`.
async fn any(
    State(state): State<AppState>,
    _caller: RequirePermission<perm::OrdersList>,
    Path(id): Path<OrderId>,
) -> Result<Json<OrderDetailBody>, ApiError> {
    let order = state.orders.get(id).await?;
    let order = order.ok_or_else(|| ApiError::not_found("order", id))?;
    Ok(Json(order.into()))
}

// ANCHOR: transition
/// `POST /admin/orders/{id}/transitions`.
async fn transition(
    State(state): State<AppState>,
    caller: RequirePermission<perm::OrdersManage>,
    Path(id): Path<OrderId>,
    JsonBody(body): JsonBody<TransitionRequest>,
) -> Result<Json<OrderDetailBody>, ApiError> {
    let actor = Some(caller.0.user_id);
    let moved = state.orders.transition(id, body.action, actor, None).await;
    after_transition(&state, id, moved).await
}

/// The order after a transition, or the transition's error as a problem: an illegal move is
/// a 409 naming what is allowed instead.
async fn after_transition(
    state: &AppState,
    id: OrderId,
    moved: Result<Transition, TransitionError>,
) -> Result<Json<OrderDetailBody>, ApiError> {
    match moved {
        // A cancelled order's reserved stock goes back on sale at once.
        Ok(Transition {
            to: OrderStatus::Cancelled,
            ..
        }) => super::checkout::release_stock(state, id).await,
        Ok(_) => {}
        Err(TransitionError::NotFound(id)) => return Err(ApiError::not_found("order", id)),
        Err(TransitionError::Illegal(illegal)) => {
            let allowed: Vec<&str> = (illegal.from.allowed_actions().iter())
                .map(|action| action.as_str())
                .collect();
            let allowed = match allowed.as_slice() {
                [] => "none: the order is final".to_owned(),
                some => some.join(", "),
            };
            return Err(ApiError::Conflict {
                detail: format!("{illegal}; allowed now: {allowed}."),
            });
        }
        Err(TransitionError::Db(error)) => return Err(error.into()),
    }
    let order = state.orders.get(id).await?;
    let order = order.ok_or_else(|| ApiError::not_found("order", id))?;
    Ok(Json(order.into()))
}
// ANCHOR_END: transition

async fn list(
    state: &AppState,
    customer: Option<UserId>,
    params: OrderListParams,
) -> Result<Json<OrderListBody>, ApiError> {
    let limit = params.limit.unwrap_or(20);
    if !(1..=MAX_PAGE).contains(&limit) {
        return Err(ApiError::InvalidRequest {
            detail: format!("limit must be between 1 and {MAX_PAGE}"),
        });
    }
    let orders = (state.orders)
        .list(customer, params.status, params.after, limit)
        .await?;
    let next_after = (orders.len() == limit as usize)
        .then(|| orders.last().map(|order| order.id))
        .flatten();
    Ok(Json(OrderListBody {
        orders: orders.into_iter().map(OrderSummaryBody::from).collect(),
        next_after,
    }))
}

impl From<OrderSummary> for OrderSummaryBody {
    fn from(order: OrderSummary) -> Self {
        OrderSummaryBody {
            id: order.id,
            customer: order.customer,
            status: order.status,
            total: order.total,
            item_count: order.item_count,
            placed_at: order.placed_at,
            updated_at: order.updated_at,
        }
    }
}

impl From<OrderDetail> for OrderDetailBody {
    fn from(order: OrderDetail) -> Self {
        let allowed_actions = order.summary.status.allowed_actions().to_vec();
        OrderDetailBody {
            summary: order.summary.into(),
            lines: order.lines.into_iter().map(OrderLineBody::from).collect(),
            history: order
                .history
                .into_iter()
                .map(TransitionBody::from)
                .collect(),
            allowed_actions,
        }
    }
}

impl From<OrderLineDetail> for OrderLineBody {
    fn from(line: OrderLineDetail) -> Self {
        OrderLineBody {
            product_id: line.product_id,
            sku: line.sku,
            name: line.name,
            quantity: line.quantity,
            unit_price: line.unit_price,
            line_total: line.line_total,
        }
    }
}

impl From<Transition> for TransitionBody {
    fn from(transition: Transition) -> Self {
        TransitionBody {
            from: transition.from,
            to: transition.to,
            action: transition.action,
            actor: transition.actor,
            at: transition.at,
        }
    }
}
