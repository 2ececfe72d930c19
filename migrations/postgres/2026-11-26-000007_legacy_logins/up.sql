-- The foodie-dev course's login (`imoocUserId` / `password` headers). The course's storefront
-- sends it from the browser, so it is public: it opens the course's paths only, never /v1.
-- One per merchant; the password is kept as a salted SHA-256.
CREATE TABLE legacy_logins (
    user_id TEXT PRIMARY KEY,
    merchant_id TEXT NOT NULL UNIQUE REFERENCES merchants (id),
    password_salt TEXT NOT NULL,
    password_hash TEXT NOT NULL,
    created_at TIMESTAMP NOT NULL
);
