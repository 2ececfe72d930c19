//! The stores themselves, on whichever backend the run uses.

use crate::helpers::spawn_app;
use chrono::Utc;
use payment_center::db::{self, orders, Backend, DbError};

fn new_order(
    merchant_id: &str,
    id: &str,
    merchant_order_id: &str,
    token: &str,
) -> orders::NewOrder {
    let now = Utc::now().naive_utc();
    orders::NewOrder {
        id: id.into(),
        merchant_id: merchant_id.into(),
        merchant_order_id: merchant_order_id.into(),
        merchant_user_id: "u".into(),
        amount: 1,
        pay_method: "wechat".into(),
        status: "WAIT_PAY".into(),
        description: "d".into(),
        return_url: "http://127.0.0.1/x".into(),
        success_url: None,
        checkout_token: token.into(),
        created_at: now,
        expires_at: now,
        origin: "api".into(),
        livemode: false,
    }
}

#[tokio::test]
async fn unique_violations_are_recognised_on_this_backend() {
    let app = spawn_app().await;
    let mut conn = app.pool.get().unwrap();
    let merchant = app.merchant.id.clone();
    orders::insert(&mut conn, &new_order(&merchant, "PC1", "m-1", "ct_1")).unwrap();

    for (what, duplicate) in [
        (
            "merchant order id",
            new_order(&merchant, "PC2", "m-1", "ct_2"),
        ),
        ("center id", new_order(&merchant, "PC1", "m-2", "ct_3")),
        ("checkout token", new_order(&merchant, "PC3", "m-3", "ct_1")),
    ] {
        let err = DbError::from(orders::insert(&mut conn, &duplicate).unwrap_err());
        assert!(err.is_unique_violation(), "{what}: {err}");
    }
    // A foreign key violation is something else.
    let err = DbError::from(
        orders::insert(
            &mut conn,
            &new_order("no-such-merchant", "PC4", "m-4", "ct_4"),
        )
        .unwrap_err(),
    );
    assert!(!err.is_unique_violation(), "{err}");
}

#[tokio::test]
async fn the_backend_is_the_one_the_url_names() {
    let app = spawn_app().await;
    let conn = app.pool.get().unwrap();
    let expected = if app.database_url.starts_with("postgres") {
        Backend::Postgres
    } else {
        Backend::Sqlite
    };
    assert_eq!(db::backend_of(&conn), expected);
}

#[test]
fn a_dead_postgres_reports_its_real_error() {
    let pool = db::build_pool("postgres://postgres@127.0.0.1:1/none", 1);
    let err = match db::get_conn(&pool) {
        Err(e) => e.to_string(),
        Ok(_) => panic!("nothing listens on port 1"),
    };
    assert!(err.contains("database unavailable"), "{err}");
    assert!(!err.contains("Invalid connection url"), "{err}");
}

#[tokio::test]
async fn only_a_payable_order_is_held_for_a_new_trade() {
    let app = spawn_app().await;
    let mut conn = app.pool.get().unwrap();
    let merchant = app.merchant.id.clone();
    let now = Utc::now().naive_utc();
    let mut order = new_order(&merchant, "PC10", "hold-1", "ct_10");
    order.expires_at = now + chrono::Duration::minutes(10);
    orders::insert(&mut conn, &order).unwrap();
    assert!(orders::hold_if_payable(&mut conn, "PC10", now).unwrap());
    assert!(
        !orders::hold_if_payable(&mut conn, "PC10", now + chrono::Duration::minutes(11)).unwrap(),
        "expired"
    );
    assert!(orders::close(&mut conn, "PC10", now).unwrap());
    assert!(
        !orders::hold_if_payable(&mut conn, "PC10", now).unwrap(),
        "closed"
    );
    assert!(
        !orders::hold_if_payable(&mut conn, "PC-none", now).unwrap(),
        "unknown"
    );
}
