// @generated automatically by Diesel CLI.

diesel::table! {
    channel_trades (channel, out_trade_no) {
        out_trade_no -> Text,
        order_id -> Text,
        product -> Text,
        status -> Text,
        pay_url -> Nullable<Text>,
        credential -> Nullable<Text>,
        credential_expires_at -> Nullable<Timestamp>,
        created_at -> Timestamp,
        closed_at -> Nullable<Timestamp>,
        close_requested -> Bool,
        next_query_at -> Nullable<Timestamp>,
        query_attempts -> Int4,
        params -> Nullable<Text>,
        channel -> Text,
    }
}

diesel::table! {
    legacy_logins (user_id) {
        user_id -> Text,
        merchant_id -> Text,
        password_salt -> Text,
        password_hash -> Text,
        created_at -> Timestamp,
    }
}

diesel::table! {
    merchants (id) {
        id -> Text,
        name -> Text,
        api_key_hash -> Text,
        notify_secret -> Text,
        return_url_prefixes -> Text,
        created_at -> Timestamp,
    }
}

diesel::table! {
    order_events (id) {
        id -> Text,
        order_id -> Text,
        at -> Timestamp,
        kind -> Text,
        detail -> Text,
    }
}

diesel::table! {
    orders (id) {
        id -> Text,
        merchant_id -> Text,
        merchant_order_id -> Text,
        merchant_user_id -> Text,
        amount -> Int8,
        pay_method -> Text,
        status -> Text,
        description -> Text,
        return_url -> Text,
        success_url -> Nullable<Text>,
        checkout_token -> Text,
        created_at -> Timestamp,
        expires_at -> Timestamp,
        paid_at -> Nullable<Timestamp>,
        transaction_id -> Nullable<Text>,
        closed_at -> Nullable<Timestamp>,
        origin -> Text,
        livemode -> Bool,
        channel -> Nullable<Text>,
    }
}

diesel::table! {
    payments (channel, transaction_id) {
        transaction_id -> Text,
        order_id -> Text,
        out_trade_no -> Text,
        amount -> Int8,
        paid_at -> Timestamp,
        recorded_at -> Timestamp,
        source -> Text,
        duplicate -> Bool,
        channel -> Text,
    }
}

diesel::table! {
    rejected_notifies (id) {
        id -> Text,
        received_at -> Timestamp,
        reason -> Text,
        out_trade_no -> Nullable<Text>,
        transaction_id -> Nullable<Text>,
        body -> Text,
    }
}

diesel::table! {
    webhook_attempts (event_id, attempt) {
        event_id -> Text,
        attempt -> Int4,
        attempted_at -> Timestamp,
        http_status -> Nullable<Int4>,
        error -> Nullable<Text>,
        latency_ms -> Int8,
    }
}

diesel::table! {
    webhook_endpoints (id) {
        id -> Text,
        merchant_id -> Text,
        url -> Text,
        events -> Text,
        created_at -> Timestamp,
        deleted_at -> Nullable<Timestamp>,
    }
}

diesel::table! {
    webhook_events (id) {
        id -> Text,
        order_id -> Text,
        merchant_id -> Text,
        event_type -> Text,
        payload -> Text,
        url -> Text,
        status -> Text,
        attempts -> Int4,
        next_attempt_at -> Nullable<Timestamp>,
        locked_by -> Nullable<Text>,
        locked_until -> Nullable<Timestamp>,
        created_at -> Timestamp,
        delivered_at -> Nullable<Timestamp>,
        last_error -> Nullable<Text>,
        endpoint_id -> Nullable<Text>,
    }
}

diesel::joinable!(channel_trades -> orders (order_id));
diesel::joinable!(legacy_logins -> merchants (merchant_id));
diesel::joinable!(order_events -> orders (order_id));
diesel::joinable!(orders -> merchants (merchant_id));
diesel::joinable!(payments -> orders (order_id));
diesel::joinable!(webhook_attempts -> webhook_events (event_id));
diesel::joinable!(webhook_endpoints -> merchants (merchant_id));
diesel::joinable!(webhook_events -> merchants (merchant_id));
diesel::joinable!(webhook_events -> orders (order_id));
diesel::joinable!(webhook_events -> webhook_endpoints (endpoint_id));

diesel::allow_tables_to_appear_in_same_query!(
    channel_trades,
    legacy_logins,
    merchants,
    order_events,
    orders,
    payments,
    rejected_notifies,
    webhook_attempts,
    webhook_endpoints,
    webhook_events,
);
